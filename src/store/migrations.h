/*
 * migrations.h — the schema as numbered migrations compiled into the binary.
 *
 * kp_migrations is generated at build time from src/store/migrations/NNNN_name.sql
 * by scripts/embed-sql.sh, in ascending order of NNNN; numbers start at 1 and
 * have no gaps. A database records the highest number applied.
 */
#ifndef KP_STORE_MIGRATIONS_H
#define KP_STORE_MIGRATIONS_H

struct kp_migration {
	unsigned number;
	const char *name;
	const char *sql;
};

extern const struct kp_migration kp_migrations[];
extern const unsigned kp_migrations_count;

/* The same list in PostgreSQL's dialect (src/store/migrations/pg/NNNN_name.sql):
 * the same numbers and names, the same meaning. */
extern const struct kp_migration kp_pg_migrations[];
extern const unsigned kp_pg_migrations_count;

#endif
