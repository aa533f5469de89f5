/*
 * segments.h — a member's segments: named groups a shop puts members in
 * ("vip", "staff", "club-2027") so that campaigns can be for them alone
 * (a campaign's "segments" filter, docs/rules.md).
 *
 * A segment's name is 1..KP_SEGMENT_NAME_MAX bytes of a-z 0-9 _ -. A member
 * has at most KP_MAX_MEMBER_SEGMENTS, kept as one text: the names sorted
 * (strcmp), each once, joined by commas; "" is none. The text is what the
 * stores keep in members.segments, so the API's array and the stored text
 * convert both ways without loss.
 */
#ifndef KP_RULES_SEGMENTS_H
#define KP_RULES_SEGMENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define KP_SEGMENT_NAME_MAX 32
#define KP_MAX_MEMBER_SEGMENTS 16
/* The longest text: every name at its longest, with a comma between each two. */
#define KP_SEGMENTS_TEXT_MAX (KP_MAX_MEMBER_SEGMENTS * (KP_SEGMENT_NAME_MAX + 1) - 1)

/* True for a well-formed segment name. */
bool kp_segment_name_valid(const char *name);

/* True for a JSON string that is a well-formed name (a NUL inside is not). */
bool kp_segment_json_valid(const json_t *v);

/*
 * The stored text of a JSON array of names, for the member's field `path`
 * (used in messages). An array that is not one of 0..KP_MAX_MEMBER_SEGMENTS
 * well-formed names, each given once, is refused: -1, with a message in err
 * naming the item ("segments[2]: listed twice"). 0 and text filled otherwise.
 */
int kp_segments_from_json(const json_t *array, const char *path,
			  char text[KP_SEGMENTS_TEXT_MAX + 1], char *err, size_t errlen);

/* The JSON array of a stored text (a new reference; NULL only when out of memory). */
json_t *kp_segments_to_json(const char *text);

/* True when the member's segments (a stored text, NULL = none) include one of
 * the n names of `sorted` (strcmp order). */
bool kp_segments_any(const char *text, char *const *sorted, size_t n);

#endif
