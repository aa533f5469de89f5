#include "util/memtune.h"

#include <malloc.h>

void kp_memory_tune_for_server(void)
{
	/* Fixed values also turn off glibc's dynamic mmap threshold, so a
	 * large block freed once does not change how later ones are served. */
	mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TOP_PAD, 16 * 1024 * 1024);
}
