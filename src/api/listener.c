#include "api/listener.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct kp_listener {
	int fd;
	pthread_t thread;
	bool running;
	atomic_bool shut;
	struct MHD_Daemon *const *daemons;
	unsigned n, next;
	kp_admit_fn admit;
	kp_unadmit_fn unadmit;
	void *admit_arg;
};

int kp_listener_open(const struct sockaddr_in *addr, struct kp_listener **out)
{
	assert(addr && out);
	struct kp_listener *l = calloc(1, sizeof *l);
	if (!l)
		return ENOMEM;
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int on = 1, err = 0;
	if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    bind(l->fd, (const struct sockaddr *)addr, sizeof *addr) != 0 ||
	    listen(l->fd, SOMAXCONN) != 0)
		err = errno ? errno : EINVAL;
	if (err) {
		if (l->fd >= 0)
			close(l->fd);
		free(l);
		return err;
	}
	atomic_init(&l->shut, false);
	*out = l;
	return 0;
}

/* Out of descriptors (or kernel memory): the connection waits in the
 * backlog; pause rather than spin, and try again. */
static void pause_briefly(void)
{
	struct timespec t = {0, 10 * 1000 * 1000};
	nanosleep(&t, NULL);
}

static void *accept_main(void *arg)
{
	struct kp_listener *l = arg;
	pthread_setname_np(pthread_self(), "kp-accept");
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof peer;
		int fd =
		    accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (atomic_load(&l->shut))
				break; /* shutdown() woke the accept: EINVAL */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				pause_briefly();
			continue; /* EINTR, ECONNABORTED, a peer's error passed on (accept(2)) */
		}
		if (!l->admit(l->admit_arg)) {
			close(fd);
			continue;
		}
		struct MHD_Daemon *d = l->daemons[l->next++ % l->n];
		/* On failure libmicrohttpd has closed the socket already. */
		if (MHD_add_connection(d, fd, (const struct sockaddr *)&peer, len) != MHD_YES) {
			fprintf(stderr, "kopilka: server: a connection could not be added: %s\n",
				strerror(errno));
			l->unadmit(l->admit_arg);
		}
	}
	return NULL;
}

int kp_listener_run(struct kp_listener *l, struct MHD_Daemon *const *daemons, unsigned n,
		    kp_admit_fn admit, kp_unadmit_fn unadmit, void *arg)
{
	assert(l && !l->running && daemons && n > 0 && admit && unadmit);
	l->daemons = daemons;
	l->n = n;
	l->admit = admit;
	l->unadmit = unadmit;
	l->admit_arg = arg;
	int rc = pthread_create(&l->thread, NULL, accept_main, l);
	l->running = rc == 0;
	return rc;
}

void kp_listener_close(struct kp_listener *l)
{
	if (!l)
		return;
	/* Linux: a listening socket shut down refuses new connections and wakes
	 * a thread blocked in accept() with EINVAL. */
	atomic_store(&l->shut, true);
	shutdown(l->fd, SHUT_RDWR);
	if (l->running)
		pthread_join(l->thread, NULL);
	close(l->fd);
	free(l);
}
