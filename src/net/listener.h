/* Listening sockets: resolve, bind and listen, for IPv4 and IPv6, optionally on one interface. */
#ifndef MIDGE_LISTENER_H
#define MIDGE_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Opens listening sockets for bind_address (NULL = every address) and port, limited to domain
 * (AF_UNSPEC, AF_INET, AF_INET6) and, when iface is set, bound to that interface.
 * Writes up to maxfds non-blocking descriptors into fds and returns how many (>0), or a negative
 * MIDGE_ERR_* with a message in err. The caller owns and closes the descriptors. */
int listener__open(const char *bind_address, const char *iface, uint16_t port, int domain, int backlog, int *fds,
		   int maxfds, char *err, size_t errlen);
/* The same for datagrams: bound UDP sockets (IPv6 ones v6-only), same returns. */
int listener__open_udp(const char *bind_address, const char *iface, uint16_t port, int domain, int *fds, int maxfds,
		       char *err, size_t errlen);
/* Accepts one connection from a listening fd: non-blocking, close-on-exec, TCP_NODELAY set.
 * Returns the fd or -1 with errno. addr receives "ip:port" of the peer (addrlen bytes). */
int listener__accept(int lfd, char *addr, size_t addrlen);

/* "ip:port" of an IPv4 or IPv6 socket address into addr (addrlen bytes); "?:0" for another family. */
void listener__addr_str(const struct sockaddr_storage *a, char *addr, size_t addrlen);

#endif
