/* Listening sockets and accept: see listener.h. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "midge/midge.h"

/* Binds sockets of socktype for every address of bind_address (listening when SOCK_STREAM): see listener__open. */
static int open_sockets(const char *bind_address, const char *iface, uint16_t port, int domain, int socktype,
			int backlog, int *fds, int maxfds, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = domain, .ai_socktype = socktype, .ai_flags = AI_PASSIVE};
	struct addrinfo *res = NULL;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	int rc = getaddrinfo(bind_address, portstr, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot resolve '%s': %s", bind_address ? bind_address : "*", gai_strerror(rc));
		return MIDGE_ERR_INVAL;
	}
	int n = 0;
	int last_errno = 0;
	for (struct addrinfo *ai = res; ai && n < maxfds; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* Separate v4 and v6 sockets, as getaddrinfo returns both for a wildcard address. */
		if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (socktype == SOCK_DGRAM) {
			/* One socket takes every client's datagrams: a burst (sensors waking together) should wait in
			 * the kernel, not be dropped. Best effort: the system's rmem_max caps it. */
			int rcv = 4 << 20;
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		}
		if (iface && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, iface, (socklen_t)strlen(iface))) {
			last_errno = errno;
			close(fd);
			continue;
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) || (socktype == SOCK_STREAM && listen(fd, backlog))) {
			last_errno = errno;
			close(fd);
			/* A port in use or forbidden on one of the addresses is an error, not a listener silently
			 * serving only the others (IPv6 but not IPv4, say); an address family the machine lacks is
			 * skipped. */
			if (last_errno == EADDRINUSE || last_errno == EACCES) {
				while (n > 0) close(fds[--n]);
				break;
			}
			continue;
		}
		fds[n++] = fd;
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(err, errlen, "cannot listen on %s port %u%s%s%s: %s", bind_address ? bind_address : "*", port,
			 iface ? " (interface " : "", iface ? iface : "", iface ? ")" : "",
			 strerror(last_errno ? last_errno : EADDRNOTAVAIL));
		return MIDGE_ERR_IO;
	}
	return n;
}

int listener__open(const char *bind_address, const char *iface, uint16_t port, int domain, int backlog, int *fds,
		   int maxfds, char *err, size_t errlen)
{
	return open_sockets(bind_address, iface, port, domain, SOCK_STREAM, backlog, fds, maxfds, err, errlen);
}

int listener__open_udp(const char *bind_address, const char *iface, uint16_t port, int domain, int *fds, int maxfds,
		       char *err, size_t errlen)
{
	return open_sockets(bind_address, iface, port, domain, SOCK_DGRAM, 0, fds, maxfds, err, errlen);
}

int listener__accept(int lfd, char *addr, size_t addrlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	listener__addr_str(&ss, addr, addrlen);
	return fd;
}

void listener__addr_str(const struct sockaddr_storage *a, char *addr, size_t addrlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)a;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
	}
	snprintf(addr, addrlen, "%s:%u", host, port);
}
