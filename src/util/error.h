/*
 * error.h — Kopilka's error codes.
 *
 * Every fallible function returns 0 on success or one of the negative KP_E*
 * codes below; results travel through out-parameters. The table is the single
 * place that ties a code to its API name (the "code" field of an error answer),
 * its HTTP status and a default message, so the HTTP layer maps errors in one
 * place and nothing else needs to know about statuses.
 *
 * Programmer errors (a broken invariant, a NULL where the contract forbids it)
 * are assert()s, never error returns.
 */
#ifndef KP_UTIL_ERROR_H
#define KP_UTIL_ERROR_H

/*      name              api code                  status  default message */
#define KP_ERROR_TABLE(X)                                                             \
	X(EINVAL,         "invalid_request",         400, "invalid request")              \
	X(EOVERFLOW,      "invalid_request",         400, "amount out of range")          \
	X(EUNAUTHORIZED,  "unauthorized",            401, "missing or unknown API key")   \
	X(EFORBIDDEN,     "forbidden",               403, "this key may not do that")     \
	X(ENOTFOUND,      "not_found",               404, "not found")                    \
	X(EMETHOD,        "method_not_allowed",      405, "method not allowed")           \
	X(ECONFLICT,      "conflict",                409, "conflict")                     \
	X(EIDEMPOTENCY,   "idempotency_conflict",    409, "the key was used with another body") \
	X(ETOOLARGE,      "too_large",               413, "request too large")            \
	X(EMEDIATYPE,     "unsupported_media_type",  415, "body must be application/json") \
	X(EPROGRAM,       "invalid_program",         422, "invalid program document")     \
	X(ECONSENT,       "consent_required",        422, "personal data consent is required") \
	X(EINSUFFICIENT,  "insufficient_points",     422, "not enough points")            \
	X(ECARDBLOCKED,   "card_blocked",            422, "the card is blocked")          \
	X(ECOUPON,        "coupon_invalid",          422, "coupon invalid")               \
	X(ECERTIFICATE,   "certificate_invalid",     422, "gift certificate invalid")     \
	X(EREFUND,        "refund_exceeds_purchase", 422, "refund exceeds the purchase")  \
	X(EREFERRAL,      "referral_invalid",        422, "unknown referral code")       \
	X(EEVENT,         "event_invalid",           422, "the program has no such event") \
	X(ELIMIT,         "limit_reached",           422, "limit reached")                \
	X(ENOPROGRAM,     "no_program",              422, "no program is loaded")         \
	X(EPARTNER,       "partner_inactive",        422, "the partner is not active")   \
	X(EFUND,          "fund_invalid",            422, "the program has no such fund") \
	X(ETOOMANY,       "too_many_requests",       429, "too many failed authentications") \
	X(EBUSY,          "unavailable",             503, "temporarily unavailable, retry") \
	X(ERETRY,         "unavailable",             503, "conflict with a concurrent change, retry") /* PostgreSQL: serialization failure or deadlock; the writer runs the batch again */ \
	X(EALREADY,       "conflict",                409, "already done") /* internal: a repeat */ \
	X(ENOMEM,         "internal",                500, "out of memory")                \
	X(ESTORE,         "internal",                500, "storage error")                \
	X(EINTERNAL,      "internal",                500, "internal error")

enum kp_error {
	KP_OK = 0,
	KP_ERROR_BASE_ = -1000,
#define KP_ERROR_ENUM_(name, code, status, msg) KP_##name,
	KP_ERROR_TABLE(KP_ERROR_ENUM_)
#undef KP_ERROR_ENUM_
	KP_ERROR_END_
};

/* Human text for an error code. Never NULL; unknown codes give "unknown error". */
const char *kp_strerror(int err);

/* The snake_case API code ("invalid_request", ...). Never NULL. */
const char *kp_error_code(int err);

/* HTTP status for an error code; 500 for unknown codes. */
int kp_error_status(int err);

#endif
