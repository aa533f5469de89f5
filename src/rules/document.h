/*
 * document.h — helpers shared by the program-document parsers (program*.c).
 *
 * Internal to src/rules: nothing outside this directory includes it. Every
 * helper that reports an error writes a message starting with the JSON path
 * it was given and returns KP_EPROGRAM (KP_ENOMEM when memory runs out); the
 * program being compiled stays freeable at every step, so a caller simply
 * returns the error and kp_rules_program_compile frees what was made.
 */
#ifndef KP_RULES_DOCUMENT_H
#define KP_RULES_DOCUMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/rules.h"

#define KP_DOC_PATH_MAX 256 /* longer paths (only from absurd unknown keys) are truncated */
#define KP_DOC_MAX_ID 64    /* bytes of a campaign or stamp card id */

struct kp_doc {
	char *errbuf;
	size_t errlen;
	struct kp_program *prog;
	json_t *root;	 /* the whole document: campaigns look up "tiers" and "utc_offset" */
	bool tiers_done; /* parsed already (possibly ahead of document order) */
	bool offset_done;
	bool charity_done; /* parsed already: charity campaigns name its funds */
};

/* Write "<path>: <message>" and return KP_EPROGRAM. */
int kp_doc_fail(struct kp_doc *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report running out of memory; returns KP_ENOMEM. */
int kp_doc_out_of_memory(struct kp_doc *d);

/* "earn" + "percent" → "earn.percent"; buf holds KP_DOC_PATH_MAX bytes. */
void kp_doc_child_path(char *buf, const char *path, const char *key);

/* "levels" + 2 → "levels[2]"; buf holds KP_DOC_PATH_MAX bytes. */
void kp_doc_index_path(char *buf, const char *path, size_t index);

/* An integer in [min, max]; reals and booleans are not integers. */
int kp_doc_integer(struct kp_doc *d, const json_t *v, const char *path, int64_t min, int64_t max,
		   int64_t *out);

/* An exact decimal with at most two places, 0..max_percent, in hundredths; no message. */
int kp_doc_hundredths(const json_t *v, int64_t max_percent, int64_t *out);

/* A percentage 0..max_percent into basis points, with the standard message. */
int kp_doc_percent(struct kp_doc *d, const json_t *v, const char *path, int64_t max_percent,
		   int64_t *bp);

/* A malloc'ed NUL-terminated copy of a JSON string, or NULL when memory runs out. */
char *kp_doc_copy_string(const json_t *v);

/*
 * An array of min..max strings of 1..KP_MAX_NAME bytes, stored sorted. *set
 * and *n are filled as the array grows, so a failure leaves them freeable.
 */
int kp_doc_string_set(struct kp_doc *d, json_t *v, const char *path, size_t min, size_t max,
		      char ***set, size_t *n);

/* An id of 1..KP_DOC_MAX_ID bytes of a-z A-Z 0-9 - _ . (campaigns, stamp cards). */
int kp_doc_id(struct kp_doc *d, const json_t *v, const char *path, char **out);

/* "<prefix>:<name>" in new memory, or NULL when memory runs out. */
char *kp_doc_rule_id(const char *prefix, const char *name);

/* Free n strings and the array that holds them; NULL with n = 0 is fine. */
void kp_doc_free_strings(char **set, size_t n);

/* The sections parsed in their own files; each is a field parser of the root object. */
int kp_doc_parse_utc_offset(struct kp_doc *d, json_t *v, const char *path);
int kp_doc_parse_tiers(struct kp_doc *d, json_t *v, const char *path);
int kp_doc_parse_campaigns(struct kp_doc *d, json_t *v, const char *path);
int kp_doc_parse_stamps(struct kp_doc *d, json_t *v, const char *path);
int kp_doc_parse_thresholds(struct kp_doc *d, json_t *v, const char *path);
int kp_doc_parse_events(struct kp_doc *d, json_t *v, const char *path);
int kp_doc_parse_charity(struct kp_doc *d, json_t *v, const char *path);

/* Free what the sections above own. */
void kp_doc_free_tiers(struct kp_program *p);
void kp_doc_free_campaigns(struct kp_program *p);
void kp_doc_free_stamps(struct kp_program *p);
void kp_doc_free_events(struct kp_program *p);
void kp_doc_free_charity(struct kp_program *p);

#endif
