/*
 * listener.h — one listening socket whose connections are dealt out in turn
 * to the server's libmicrohttpd daemons, one thread each.
 *
 * Why not libmicrohttpd's own thread pool: there every pool thread accepts
 * from the shared socket, and whichever wakes first takes a whole burst of
 * new connections. Tills open their keep-alive connections together (a
 * shop opening, a reconnect after a network blip), so one thread could
 * serve most of them for their whole life while the others idled: seen
 * here as one thread at 66% of a core and another at 19% serving 64
 * connections, and quotes/s 20% lower than when the threads shared evenly.
 * Dealt in turn, n connections give each thread n/threads, within one.
 *
 * The listener does not read or write a connection: it accepts, checks the
 * server's connection limit (admit), and hands the socket over with
 * MHD_add_connection, which libmicrohttpd allows from another thread when
 * the daemon was started with MHD_USE_ITC.
 */
#ifndef KP_API_LISTENER_H
#define KP_API_LISTENER_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>

struct kp_listener;

/* Whether one more connection may be served now, taking its place if so;
 * false: it is closed at once. */
typedef bool (*kp_admit_fn)(void *arg);
/* A place admit took and no connection will use: libmicrohttpd refused it. */
typedef void (*kp_unadmit_fn)(void *arg);

/*
 * Bind and listen on addr (SO_REUSEADDR, as libmicrohttpd does, but not
 * SO_REUSEPORT: a second server on the same port must fail, not share it).
 * Returns 0, or an errno value.
 */
int kp_listener_open(const struct sockaddr_in *addr, struct kp_listener **out);

/*
 * Start accepting on a thread of its own, handing connection k to
 * daemons[k % n]. daemons must outlive kp_listener_close. 0 or an errno value.
 */
int kp_listener_run(struct kp_listener *l, struct MHD_Daemon *const *daemons, unsigned n,
		    kp_admit_fn admit, kp_unadmit_fn unadmit, void *arg);

/* Stop accepting (from now on the kernel refuses new connections), wait for
 * the accepting thread, close the socket, free. NULL does nothing. */
void kp_listener_close(struct kp_listener *l);

#endif
