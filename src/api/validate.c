/*
 * validate.c — strict reading of request JSON.
 *
 * Every helper names the offending field by its path ("lines[2].qty") in
 * the message, and treats JSON types exactly: 1.0 is not an integer, true is
 * not a number, "2" is not a number.
 */
#include <assert.h>
#include <string.h>

#include "api/http.h"
#include "util/error.h"
#include "util/strcopy.h"

static const char *join(char *buf, size_t cap, const char *path, const char *key)
{
	if (path && *path)
		snprintf(buf, cap, "%s.%s", path, key);
	else
		kp_strcopy(buf, cap, key);
	return buf;
}

int v_object(const json_t *v, const char *path, struct kp_why *why)
{
	if (json_is_object(v))
		return 0;
	return kp_why(why, KP_EINVAL, "%s: must be a JSON object", path && *path ? path : "body");
}

int v_keys(const json_t *obj, const char *path, const char *const *allowed, struct kp_why *why)
{
	assert(json_is_object(obj) && allowed);
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)obj, key, value) {
		(void)value;
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = strcmp(*a, key) == 0;
		if (!known) {
			char p[256];
			return kp_why(why, KP_EINVAL, "%.200s: unknown field",
				      join(p, sizeof p, path, key));
		}
	}
	return 0;
}

int v_string(const json_t *obj, const char *path, const char *key, bool required, size_t min,
	     size_t max, const char **out, struct kp_why *why)
{
	char p[256];
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return required ? kp_why(why, KP_EINVAL, "%s: is required",
					 join(p, sizeof p, path, key))
				: 0;
	if (!json_is_string(v))
		return kp_why(why, KP_EINVAL, "%s: must be a string", join(p, sizeof p, path, key));
	size_t len = json_string_length(v);
	if (len < min || len > max)
		return kp_why(why, KP_EINVAL, "%s: must be %zu to %zu bytes long",
			      join(p, sizeof p, path, key), min, max);
	if (strlen(json_string_value(v)) != len)
		return kp_why(why, KP_EINVAL, "%s: must not contain NUL",
			      join(p, sizeof p, path, key));
	*out = json_string_value(v);
	return 0;
}

int v_int(const json_t *obj, const char *path, const char *key, bool required, int64_t min,
	  int64_t max, int64_t *out, struct kp_why *why)
{
	char p[256];
	json_t *v = json_object_get(obj, key);
	if (!v)
		return required ? kp_why(why, KP_EINVAL, "%s: is required",
					 join(p, sizeof p, path, key))
				: 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return kp_why(why, KP_EINVAL, "%s: must be an integer from %lld to %lld",
			      join(p, sizeof p, path, key), (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

int v_bool(const json_t *obj, const char *path, const char *key, bool *out, struct kp_why *why)
{
	char p[256];
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return kp_why(why, KP_EINVAL, "%s: must be true or false",
			      join(p, sizeof p, path, key));
	*out = json_is_true(v);
	return 0;
}

int v_array(const json_t *obj, const char *path, const char *key, size_t max, json_t **out,
	    struct kp_why *why)
{
	char p[256];
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return kp_why(why, KP_EINVAL, "%s: must be an array", join(p, sizeof p, path, key));
	if (json_array_size(v) > max)
		return kp_why(why, KP_EINVAL, "%s: at most %zu items",
			      join(p, sizeof p, path, key), max);
	*out = v;
	return 0;
}

int v_id(const json_t *obj, const char *path, const char *key, bool required, size_t max,
	 const char **out, struct kp_why *why)
{
	int rc = v_string(obj, path, key, required, 1, max, out, why);
	if (rc || !*out)
		return rc;
	for (const unsigned char *p = (const unsigned char *)*out; *p; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f) {
			char buf[256];
			return kp_why(why, KP_EINVAL, "%s: must not contain '/' or control characters",
				      join(buf, sizeof buf, path, key));
		}
	return 0;
}
