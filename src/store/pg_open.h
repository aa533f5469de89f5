/*
 * pg_open.h — the one entry into the PostgreSQL store that kp_store_open
 * (sqlite.c) needs, without libpq's headers: a "postgresql://" or
 * "postgres://" URI opens a connection there (see store.h for the contract).
 */
#ifndef KP_STORE_PG_OPEN_H
#define KP_STORE_PG_OPEN_H

#include "store/store.h"

int pg_open(const char *uri, bool create, struct kp_conn **out, char *err, size_t errlen);

#endif
