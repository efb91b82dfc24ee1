/* midge: the broker's command line (Mosquitto-compatible), configuration loading and process set-up. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker.h"
#include "midge/midge.h"

static void usage(FILE *f)
{
	fprintf(f,
		"midge version %s\n\n"
		"midge is an MQTT v3.1.1/v3.1 broker.\n\n"
		"Usage: midge [-c config_file] [-d] [-h] [-p port] [-v] [--test-config] [--threads N]\n\n"
		" -c : specify the broker config file.\n"
		" -d : put the broker into the background after starting.\n"
		" -h : display this help.\n"
		" -p : start the broker listening on the specified port (repeatable).\n"
		"      Without -c, listens on the loopback interface only.\n"
		" -v : verbose mode - enable all logging types. This overrides\n"
		"      any logging options given in the config file.\n"
		" --test-config : check the config file and exit.\n"
		" --threads N : number of worker threads (default: one per core).\n"
		" --version : print the version and exit.\n\n"
		"See the midge(8) and midge.conf(5) man pages.\n",
		MIDGE_VERSION);
}

/* Adds a listener on the loopback addresses (IPv4 and IPv6), as Mosquitto 2 does without a config. */
static int add_local_listeners(struct config *c, uint16_t port)
{
	static const char *addrs[2] = {"127.0.0.1", "::1"};
	struct listener_conf *l = realloc(c->listeners, (c->nlisteners + 2) * sizeof(*l));
	if (!l) return MIDGE_ERR_NOMEM;
	c->listeners = l;
	for (int i = 0; i < 2; i++) {
		struct listener_conf *x = &c->listeners[c->nlisteners++];
		memset(x, 0, sizeof(*x));
		x->port = port;
		x->bind_address = strdup(addrs[i]);
		x->socket_domain = i == 0 ? AF_INET : AF_INET6;
		x->max_connections = -1;
		x->allow_zero_length_clientid = c->allow_zero_length_clientid;
		/* Local only mode lets anonymous clients in unless the configuration says otherwise. */
		x->allow_anonymous = 1;
	}
	return 0;
}

/* Adds a listener on every address for -p given together with -c. */
static int add_any_listener(struct config *c, uint16_t port)
{
	struct listener_conf *l = realloc(c->listeners, (c->nlisteners + 1) * sizeof(*l));
	if (!l) return MIDGE_ERR_NOMEM;
	c->listeners = l;
	struct listener_conf *x = &c->listeners[c->nlisteners++];
	memset(x, 0, sizeof(*x));
	x->port = port;
	x->socket_domain = AF_UNSPEC;
	x->max_connections = -1;
	x->allow_zero_length_clientid = c->allow_zero_length_clientid;
	x->allow_anonymous = -1;
	return 0;
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 1 || v > 65535) return -1;
	*out = (uint16_t)v;
	return 0;
}

/* Drops root privileges to `user` when running as root, as Mosquitto does. */
static int drop_privileges(struct broker *b)
{
	const char *user = config__user(&b->conf);
	if (getuid() != 0 || !*user || strcmp(user, "root") == 0) return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		log__printf(&b->log, LOG_T_WARNING, "Warning: user '%s' does not exist; still running as root.", user);
		return 0;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		log__printf(&b->log, LOG_T_ERR, "Error: cannot change to user '%s': %s.", user, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) return -1;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f);
}

int main(int argc, char **argv)
{
	static struct broker broker; /* zeroed: a valid empty broker for broker__fini */
	struct broker *b = &broker;
	const char *config_file = NULL;
	bool daemonize = false, verbose = false, test_config = false;
	uint16_t ports[16];
	int nports = 0, threads = -1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-c") || !strcmp(a, "--config-file")) {
			if (++i >= argc) {
				fprintf(stderr, "Error: -c argument given, but no config file specified.\n\n");
				usage(stderr);
				return 1;
			}
			config_file = argv[i];
		} else if (!strcmp(a, "-d") || !strcmp(a, "--daemon")) {
			daemonize = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--port")) {
			if (++i >= argc || parse_port(argv[i], &ports[nports]) || nports >= 15) {
				fprintf(stderr, "Error: invalid port given to -p (1-65535).\n");
				return 1;
			}
			nports++;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			verbose = true;
		} else if (!strcmp(a, "--test-config")) {
			test_config = true;
		} else if (!strcmp(a, "--threads")) {
			char *end;
			threads = ++i < argc ? (int)strtol(argv[i], &end, 10) : -1;
			if (i >= argc || *end || threads < 1 || threads > 1024) {
				fprintf(stderr, "Error: --threads takes a number from 1 to 1024.\n");
				return 1;
			}
		} else if (!strcmp(a, "--version")) {
			printf("midge version %s\n", MIDGE_VERSION);
			return 0;
		} else {
			fprintf(stderr, "Error: unknown option '%s'.\n\n", a);
			usage(stderr);
			return 1;
		}
	}

	config__defaults(&b->conf);
	char err[1024];
	if (config_file) {
		if (config__load(&b->conf, config_file, err, sizeof(err)) ||
		    config__validate(&b->conf, err, sizeof(err))) {
			fprintf(stderr, "Error: %s\n", err);
			config__fini(&b->conf);
			return 3;
		}
		b->config_path = config_file;
	}
	if (test_config) {
		if (!config_file) {
			fprintf(stderr, "Error: --test-config needs -c FILE.\n");
			config__fini(&b->conf);
			return 1;
		}
		if (broker__check_files(&b->conf, err, sizeof(err))) {
			fprintf(stderr, "Error: %s\n", err);
			config__fini(&b->conf);
			return 3;
		}
		printf("%s: configuration OK\n", config_file);
		config__fini(&b->conf);
		return 0;
	}
	for (int i = 0; i < nports; i++) {
		if (config_file) add_any_listener(&b->conf, ports[i]);
		else add_local_listeners(&b->conf, ports[i]);
	}
	bool local_only = !config_file || b->conf.nlisteners == 0;
	if (b->conf.nlisteners == 0) add_local_listeners(&b->conf, 1883);
	/* Mosquitto 2: anonymous clients are refused once a config file defines listeners, unless allowed. */
	if (local_only && b->conf.allow_anonymous == -1) b->conf.allow_anonymous = 1;
	b->local_only = local_only;
	if (threads > 0) b->conf.threads = threads;
	if (verbose) b->conf.log_type = LOG_T_ALL;

	/* Signals go to the main loop's signalfd: block them before any thread starts. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (daemonize && daemon(1, 0)) {
		fprintf(stderr, "Error: cannot run in the background: %s\n", strerror(errno));
		return 1;
	}
	int rc = broker__init(b, err, sizeof(err));
	if (!rc) {
		log__printf(&b->log, LOG_T_NOTICE, "midge version %s starting", MIDGE_VERSION);
		if (config_file) log__printf(&b->log, LOG_T_NOTICE, "Config loaded from %s.", config_file);
		else log__printf(&b->log, LOG_T_NOTICE, "Starting in local only mode. Connections will only be possible from clients running on this machine.");
		for (size_t i = 0; i < b->conf.nwarnings; i++)
			log__printf(&b->log, LOG_T_WARNING, "Warning: %s", b->conf.warnings[i]);
	}
	if (!rc && b->conf.pid_file && write_pid_file(b->conf.pid_file)) {
		snprintf(err, sizeof(err), "cannot write pid file '%s': %s", b->conf.pid_file, strerror(errno));
		rc = MIDGE_ERR_IO;
	}
	if (!rc) rc = broker__start(b, err, sizeof(err));
	if (!rc && drop_privileges(b)) rc = MIDGE_ERR_IO, snprintf(err, sizeof(err), "cannot drop privileges");
	if (rc) {
		log__printf(&b->log, LOG_T_ERR, "Error: %s", err);
		if (!(b->log.dests & LOG_DEST_STDERR)) fprintf(stderr, "Error: %s\n", err);
		broker__fini(b);
		return 1;
	}
	broker__run(b);
	if (b->conf.pid_file) unlink(b->conf.pid_file);
	broker__fini(b);
	return 0;
}
