/*
 * verify_sql.c — the ledger invariants as queries, shared by both stores.
 *
 * Each check is one query returning the number of violations and a readable
 * example of the first. The text runs unchanged on SQLite and PostgreSQL
 * (every derived table is named, as PostgreSQL requires), but for the JSON
 * of a purchase's lines, which each reads with its own function.
 */
#include "store/verify_sql.h"

/* Net flow into account `acc` of a transfer row t: +points in, −points out. */
#define FLOW(acc) \
	"(CASE WHEN t.to_acc = " acc " THEN t.points WHEN t.from_acc = " acc " THEN -t.points ELSE 0 END)"

/* Field k of a line in purchases.lines (store/lines_json.h), as an integer. */
#define LINE_INT(k) "CAST(l.value ->> " #k " AS BIGINT)"

/*
 * The lines in a purchase's row add up to its totals, and no line gives back
 * more units than it sold. EACH is the dialect's table of an array's elements
 * (a column named value): the one place the two stores' texts differ.
 */
#define LINES_IN_ROW_CHECK(EACH, WHERE) \
	"SELECT count(*), min(x) FROM (SELECT 'purchase ' || p.id || ' (' || p.receipt_id || " \
	"')' AS x FROM purchases p, " EACH " l " WHERE " GROUP BY p.id " \
	"HAVING p.subtotal != SUM(" LINE_INT(4) ") OR p.discount != SUM(" LINE_INT(5) ") OR " \
	"p.points_redeemed != SUM(" LINE_INT(6) ") OR p.certificates != SUM(" LINE_INT(7) ") " \
	"OR p.to_pay != SUM(" LINE_INT(8) ") OR p.points_earned != SUM(" LINE_INT(9) ") OR " \
	"MAX(CASE WHEN " LINE_INT(10) " > " LINE_INT(2) " THEN 1 ELSE 0 END) = 1) v"

const struct kp_verify_check kp_verify_checks[] = {
	{"member balances equal the sum of their postings",
	 "SELECT count(*), min(x) FROM (SELECT 'member ' || m.id || ': stored ' || m.available || '/' "
	 "|| m.pending || '/' || m.debt || ', postings ' || COALESCE(SUM(" FLOW("4") "), 0) || '/' || "
	 "COALESCE(SUM(" FLOW("5") "), 0) || '/' || COALESCE(SUM(" FLOW("6") "), 0) AS x "
	 "FROM members m LEFT JOIN transfers t ON t.member_id = m.id GROUP BY m.id "
	 "HAVING m.available != COALESCE(SUM(" FLOW("4") "), 0) "
	 "OR m.pending != COALESCE(SUM(" FLOW("5") "), 0) "
	 "OR m.debt != COALESCE(SUM(" FLOW("6") "), 0)) v"},
	{"the sum of all balances is zero",
	 "SELECT (p.s + m.s) != 0, 'program accounts ' || p.s || ' + members ' || m.s || ' != 0' "
	 "FROM (SELECT COALESCE(SUM(" FLOW("1") " + " FLOW("2") " + " FLOW("3") " + " FLOW("7")
	 "), 0) AS s "
	 "FROM transfers t) p, "
	 "(SELECT COALESCE(SUM(available + pending + debt), 0) AS s FROM members) m"},
	{"program accounts have their sign",
	 "SELECT count(*), min(x) FROM (SELECT 'account ' || a.acc || ' balance ' || a.bal AS x "
	 "FROM (SELECT 1 AS acc, COALESCE(SUM(" FLOW("1") "), 0) AS bal FROM transfers t UNION ALL "
	 "SELECT 2, COALESCE(SUM(" FLOW("2") "), 0) FROM transfers t UNION ALL "
	 "SELECT 3, COALESCE(SUM(" FLOW("3") "), 0) FROM transfers t UNION ALL "
	 "SELECT 7, COALESCE(SUM(" FLOW("7") "), 0) FROM transfers t) a "
	 "WHERE (a.acc = 1 AND a.bal > 0) OR (a.acc != 1 AND a.bal < 0)) v"},
	{"postings move a positive number of points between two accounts",
	 "SELECT count(*), min('transfer ' || id) FROM transfers "
	 "WHERE points <= 0 OR from_acc = to_acc OR from_acc NOT BETWEEN 1 AND 7 "
	 "OR to_acc NOT BETWEEN 1 AND 7 "
	 "OR ((from_acc BETWEEN 4 AND 6 OR to_acc BETWEEN 4 AND 6) AND member_id IS NULL)"},
	/* a donation (from available points) or a charity campaign (from issuance) names
	 * its fund; nothing ever leaves a fund */
	{"charity postings name their fund and come from available points or issuance",
	 "SELECT count(*), min('transfer ' || id) FROM transfers "
	 "WHERE (to_acc = 7 AND (from_acc NOT IN (1, 4) OR ref IS NULL OR ref NOT LIKE 'fund:_%')) "
	 "OR from_acc = 7"},
	{"every lot's remaining equals the sum of its postings",
	 "SELECT count(*), min(x) FROM (SELECT 'lot ' || l.id || ': remaining ' || l.remaining || "
	 "', postings ' || COALESCE(SUM(CASE WHEN t.to_acc IN (4, 5) THEN t.points ELSE 0 END - "
	 "CASE WHEN t.from_acc IN (4, 5) THEN t.points ELSE 0 END), 0) AS x, l.remaining AS r, "
	 "l.points AS p, COALESCE(SUM(CASE WHEN t.to_acc IN (4, 5) THEN t.points ELSE 0 END - "
	 "CASE WHEN t.from_acc IN (4, 5) THEN t.points ELSE 0 END), 0) AS s "
	 "FROM lots l LEFT JOIN transfers t ON t.lot_id = l.id GROUP BY l.id) v "
	 "WHERE r != s OR r < 0 OR r > p"},
	/* a hold earns nothing until it is confirmed */
	{"every purchase's postings add up to its totals",
	 "SELECT count(*), min(x) FROM (SELECT 'purchase ' || p.id || ' (' || p.receipt_id || "
	 "'): earned ' || p.points_earned || ' vs ' || COALESCE(SUM(CASE WHEN t.entry = 1 AND "
	 "t.refund_id IS NULL THEN t.points ELSE 0 END), 0) || ', redeemed ' || p.points_redeemed || "
	 "' vs ' || COALESCE(SUM(CASE WHEN t.entry = 2 THEN t.points ELSE 0 END), 0) AS x "
	 "FROM purchases p LEFT JOIN transfers t ON t.purchase_id = p.id GROUP BY p.id "
	 "HAVING (CASE WHEN p.status = 'committed' THEN p.points_earned ELSE 0 END) != "
	 "COALESCE(SUM(CASE WHEN t.entry = 1 AND t.refund_id IS NULL "
	 "THEN t.points ELSE 0 END), 0) OR p.points_redeemed != COALESCE(SUM(CASE WHEN t.entry = 2 "
	 "THEN t.points ELSE 0 END), 0)) v"},
	{"every purchase keeps its lines in one place",
	 "SELECT count(*), min('purchase ' || p.id) FROM purchases p WHERE p.lines IS NOT NULL "
	 "AND EXISTS (SELECT 1 FROM purchase_lines l WHERE l.purchase_id = p.id)"},
	{"every purchase's lines from before version 11 add up to its totals",
	 "SELECT count(*), min(x) FROM (SELECT 'purchase ' || p.id || ' (' || p.receipt_id || "
	 "')' AS x FROM purchases p JOIN purchase_lines l ON l.purchase_id = p.id GROUP BY p.id "
	 "HAVING p.subtotal != SUM(l.amount) OR p.discount != SUM(l.discount) OR "
	 "p.points_redeemed != SUM(l.points) OR p.to_pay != SUM(l.paid) OR "
	 "p.points_earned != SUM(l.earned) OR p.certificates != SUM(l.certificates)) v"},
	{"every refund's postings add up to its totals",
	 "SELECT count(*), min(x) FROM (SELECT 'refund ' || r.id || ' (' || r.refund_id || "
	 "'): reversed ' || r.points_reversed || ', returned ' || r.points_returned AS x "
	 "FROM refunds r LEFT JOIN transfers t ON t.refund_id = r.id GROUP BY r.id "
	 "HAVING r.points_reversed != COALESCE(SUM(CASE WHEN t.to_acc = 1 THEN t.points ELSE 0 "
	 "END), 0) OR r.points_returned != COALESCE(SUM(CASE WHEN t.from_acc = 2 THEN t.points "
	 "ELSE 0 END), 0)) v"},
	{"no purchase gives back more than it spent or takes back more than it earned",
	 "SELECT count(*), min(x) FROM (SELECT 'purchase ' || p.id AS x FROM purchases p "
	 "JOIN refunds r ON r.purchase_id = p.id GROUP BY p.id "
	 "HAVING SUM(r.points_returned) > p.points_redeemed OR "
	 "SUM(r.points_reversed) > p.points_earned OR SUM(r.money_refund) > p.to_pay) v"},
	{"a member in debt has no available points",
	 "SELECT count(*), min('member ' || id) FROM members WHERE debt < 0 AND available != 0"},
};

const size_t kp_verify_checks_count = sizeof kp_verify_checks / sizeof kp_verify_checks[0];

#define LINES_WHAT "every purchase's lines add up to its totals, none refunded beyond its qty"
/* SQLite skips the unreadable texts, which the check before counts. */
const struct kp_verify_check kp_verify_lines_sqlite = {
	LINES_WHAT, LINES_IN_ROW_CHECK("json_each(p.lines)", "WHERE json_valid(p.lines)")};
const struct kp_verify_check kp_verify_lines_pg = {
	LINES_WHAT, LINES_IN_ROW_CHECK("json_array_elements(p.lines::json)", "")};

const char kp_verify_lines_readable[] = "every purchase's lines are readable JSON";
const struct kp_verify_check kp_verify_lines_readable_sqlite = {
	kp_verify_lines_readable,
	"SELECT count(*), min('purchase ' || id || ' (' || receipt_id || ')') FROM purchases "
	"WHERE lines IS NOT NULL AND NOT json_valid(lines)"};
