#include "util/error.h"

#include <stddef.h>

struct error_row {
	int err;
	const char *code;
	int status;
	const char *message;
};

static const struct error_row rows[] = {
#define KP_ERROR_ROW_(name, code, status, msg) {KP_##name, code, status, msg},
	KP_ERROR_TABLE(KP_ERROR_ROW_)
#undef KP_ERROR_ROW_
};

static const struct error_row *find(int err)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (rows[i].err == err)
			return &rows[i];
	return NULL;
}

const char *kp_strerror(int err)
{
	const struct error_row *r = find(err);
	return r ? r->message : "unknown error";
}

const char *kp_error_code(int err)
{
	const struct error_row *r = find(err);
	return r ? r->code : "internal";
}

int kp_error_status(int err)
{
	const struct error_row *r = find(err);
	return r ? r->status : 500;
}
