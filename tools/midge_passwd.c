/* midge-passwd: manages Mosquitto-compatible password files; flags, messages and exit codes of mosquitto_passwd 2.0.11.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/passwd.h"

/* PBKDF2-HMAC-SHA512 iterations written by default, chosen so that a broker's check costs about 1 ms.
 * Measured 2026-11-25 on the development machine (AMD EPYC, 2 vCPUs, OpenSSL 3.0.19, pw__entry_verify averaged
 * over 300 checks): 1000 iterations 0.52 ms, 1500 0.80-0.90 ms, 2000 1.06-1.07 ms, 5000 2.59 ms per check.
 * (mosquitto_passwd 2.0.11 writes 101: 0.06 ms.) -I chooses another figure. */
#define MIDGE_PW_DEFAULT_ITERATIONS 2000
#define MAX_BUFFER_LEN 65500

static struct termios saved_term;
static volatile sig_atomic_t term_saved;

static void print_usage(void)
{
	printf("midge-passwd is a tool for managing password files for midge and mosquitto.\n\n");
	printf("Usage: midge-passwd [-H sha512 | -H sha512-pbkdf2] [-I iterations] [-c | -D] passwordfile username\n");
	printf("       midge-passwd [-H sha512 | -H sha512-pbkdf2] [-I iterations] [-c] -b passwordfile username "
	       "password\n");
	printf("       midge-passwd -U passwordfile\n");
	printf(" -b : run in batch mode to allow passing passwords on the command line.\n");
	printf(" -c : create a new password file. This will overwrite existing files.\n");
	printf(" -D : delete the username rather than adding/updating its password.\n");
	printf(" -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.\n");
	printf("      Mosquitto 1.6 and earlier defaulted to sha512.\n");
	printf(" -I : number of PBKDF2 iterations for sha512-pbkdf2 (default %d).\n", MIDGE_PW_DEFAULT_ITERATIONS);
	printf(" -U : update a plain text password file to use hashed passwords.\n");
	printf("\nSee midge-passwd(1) for more information.\n\n");
}

static void reset_term(void)
{
	if (term_saved) tcsetattr(0, TCSANOW, &saved_term);
}

static void handle_signal(int sig)
{
	(void)sig;
	reset_term(); /* tcsetattr is async-signal-safe */
	_exit(0);
}

/* One line from stdin with echo off on a terminal; 0, or 1 when nothing (or an empty line) was read. */
static int gets_quiet(char *s, int len)
{
	struct termios ts;
	if (tcgetattr(0, &ts) == 0) {
		saved_term = ts;
		term_saved = 1;
		ts.c_lflag &= ~(tcflag_t)(ECHO | ICANON);
		ts.c_lflag |= ICANON; /* keep line editing; only the echo goes */
		tcsetattr(0, TCSANOW, &ts);
	}
	char *rs = fgets(s, len, stdin);
	reset_term();
	term_saved = 0;
	if (!rs) return 1;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return n == 0;
}

/* Prompts twice; 0 with the password in out, 1 when empty, 2 when the two differ (mosquitto_passwd's codes). */
static int get_password(char *out, size_t len)
{
	static char pw1[MAX_BUFFER_LEN], pw2[MAX_BUFFER_LEN];
	int rc = 0;
	printf("Password: ");
	fflush(stdout);
	if (gets_quiet(pw1, (int)sizeof(pw1))) {
		fprintf(stderr, "Error: Empty password.\n");
		rc = 1;
		goto out;
	}
	printf("\n");
	printf("Reenter password: ");
	fflush(stdout);
	if (gets_quiet(pw2, (int)sizeof(pw2))) {
		fprintf(stderr, "Error: Empty password.\n");
		rc = 1;
		goto out;
	}
	printf("\n");
	if (strcmp(pw1, pw2)) {
		fprintf(stderr, "Error: Passwords do not match.\n");
		rc = 2;
		goto out;
	}
	snprintf(out, len, "%s", pw1);
out:
	OPENSSL_cleanse(pw1, sizeof(pw1));
	OPENSSL_cleanse(pw2, sizeof(pw2));
	return rc;
}

static bool is_username_valid(const char *username)
{
	if (!username) return true;
	size_t slen = strlen(username);
	if (slen > 65535) {
		fprintf(stderr, "Error: Username must be less than 65536 characters long.\n");
		return false;
	}
	for (size_t i = 0; i < slen; i++) {
		if (iscntrl((unsigned char)username[i])) {
			fprintf(stderr, "Error: Username must not contain control characters.\n");
			return false;
		}
	}
	if (strchr(username, ':')) {
		fprintf(stderr, "Error: Username must not contain the ':' character.\n");
		return false;
	}
	return true;
}

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void out_add(struct out *o, const char *s, size_t n)
{
	if (o->oom) return;
	if (o->len + n + 1 > o->cap) {
		size_t ncap = o->cap ? o->cap : 4096;
		while (o->len + n + 1 > ncap)
			ncap *= 2;
		char *nb = realloc(o->buf, ncap);
		if (!nb) {
			o->oom = true;
			return;
		}
		o->buf = nb;
		o->cap = ncap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static int output_new_password(struct out *o, const char *username, const char *password, enum pw_type type,
                               int iterations)
{
	char field[PW_ENCODED_MAX];
	if (!password) {
		fprintf(stderr, "Error: Internal error, no password given.\n");
		return 1;
	}
	if (pw__encode(type, iterations, password, field, sizeof(field))) {
		fprintf(stderr, "Error: Unable to hash password.\n");
		return 1;
	}
	out_add(o, username, strlen(username));
	out_add(o, ":", 1);
	out_add(o, field, strlen(field));
	out_add(o, "\n", 1);
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

enum mode { MODE_UPDATE_USER, MODE_DELETE_USER, MODE_UPDATE_FILE };

/* Rewrites the file's text in into o: mosquitto_passwd's pwfile_iterate and its three callbacks. Lines that
 * are blank or comments (which mosquitto_passwd calls corrupt) are kept as they are. Returns the exit code. */
static int transform(const char *in, size_t inlen, struct out *o, enum mode mode, const char *username,
                     const char *password, enum pw_type type, int iterations)
{
	bool found = false;
	int line = 0;
	const char *p = in, *end = in + inlen;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl + 1 : end;
		size_t ll = (size_t)(le - p);
		line++;
		char *copy = malloc(ll + 1);
		if (!copy) {
			fprintf(stderr, "Error: Out of memory.\n");
			return 1;
		}
		memcpy(copy, p, ll);
		copy[ll] = '\0';
		const char *orig = p;
		p = le;

		char *t = trim(copy);
		if (*t == '\0' || *t == '#') {
			out_add(o, orig, ll);
			if (!nl) out_add(o, "\n", 1);
			free(copy);
			continue;
		}
		char *colon = strchr(t, ':');
		char *user = t, *pw = NULL;
		if (colon) {
			*colon = '\0';
			pw = colon + 1;
			char *c2 = strchr(pw, ':');
			if (c2) *c2 = '\0';
			user = trim(user);
			pw = trim(pw);
		}
		if (!colon || !*user || !*pw) {
			fprintf(stderr, "Error: Corrupt password file at line %d.\n", line);
			OPENSSL_cleanse(copy, ll);
			free(copy);
			/* mosquitto_passwd would go on and rewrite the file without the rest of it; the file is kept.
			 */
			return 1;
		}
		int rc = 0;
		if (mode == MODE_UPDATE_FILE) {
			struct pw_entry e;
			if ((pw[0] == '$' && pw__decode(pw, &e, NULL, 0) == 0)) {
				out_add(o, orig, ll); /* already hashed: hashing the hash would lock the user out */
				if (!nl) out_add(o, "\n", 1);
			} else {
				rc = output_new_password(o, user, pw, type, iterations);
			}
		} else if (strcmp(user, username) != 0) {
			out_add(o, orig, ll);
			if (!nl) out_add(o, "\n", 1);
		} else {
			found = true;
			if (mode == MODE_UPDATE_USER) rc = output_new_password(o, user, password, type, iterations);
		}
		OPENSSL_cleanse(copy, ll);
		free(copy);
		if (rc) return rc;
	}
	if (mode == MODE_DELETE_USER && !found) {
		fprintf(stderr, "Warning: User %s not found in password file.\n", username);
		return 1;
	}
	if (mode == MODE_UPDATE_USER && !found) return output_new_password(o, username, password, type, iterations);
	return 0;
}

static int read_all(FILE *f, char **buf, size_t *len)
{
	size_t cap = 0;
	*buf = NULL;
	*len = 0;
	for (;;) {
		if (*len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb = realloc(*buf, ncap);
			if (!nb) return -1;
			*buf = nb;
			cap = ncap;
		}
		size_t n = fread(*buf + *len, 1, cap - *len, f);
		*len += n;
		if (n == 0) break;
	}
	return ferror(f) ? -1 : 0;
}

static int write_all(FILE *f, const char *buf, size_t len)
{
	rewind(f);
	if (ftruncate(fileno(f), 0)) return 1;
	if (len && fwrite(buf, 1, len, f) != len) return 1;
	return fflush(f) != 0;
}

static int edit_file(const char *password_file, enum mode mode, const char *username, const char *password,
                     enum pw_type type, int iterations)
{
	FILE *fptr = fopen(password_file, "r+");
	if (!fptr) {
		fprintf(stderr, "Error: Unable to open password file %s. %s.\n", password_file, strerror(errno));
		return 1;
	}
	char *in = NULL;
	size_t inlen = 0;
	struct out o = {0};
	int rc = 1;
	size_t blen = strlen(password_file) + sizeof(".backup.XXXXXX");
	char *backup_file = malloc(blen);
	if (!backup_file || read_all(fptr, &in, &inlen)) {
		fprintf(stderr, "Error: Out of memory.\n");
		goto out_nobackup;
	}
	snprintf(backup_file, blen, "%s.backup.XXXXXX", password_file);
	/* Like mosquitto_passwd: a private copy of the old file exists until the new one is written. */
	mode_t old = umask(077);
	int fd = mkstemp(backup_file);
	umask(old);
	FILE *fb = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!fb) {
		if (fd >= 0) close(fd);
		fprintf(stderr, "Error creating backup password file \"%s\", not continuing.\n", backup_file);
		goto out_nobackup;
	}
	if ((inlen && fwrite(in, 1, inlen, fb) != inlen) || fclose(fb)) {
		fprintf(stderr, "Error copying data to backup password file \"%s\", not continuing.\n", backup_file);
		goto out;
	}
	rc = transform(in, inlen, &o, mode, username, password, type, iterations);
	if (!rc && o.oom) {
		fprintf(stderr, "Error: Out of memory.\n");
		rc = 1;
	}
	if (rc) goto out;
	if (write_all(fptr, o.buf ? o.buf : "", o.len)) {
		fprintf(stderr, "Error occurred updating password file.\n");
		fprintf(stderr, "Password file may be corrupt, check the backup file: %s.\n", backup_file);
		fclose(fptr);
		fptr = NULL;
		goto out_nobackup; /* the backup is the way back: kept */
	}
	rc = 0;
out:
	unlink(backup_file); /* it holds the old hashes: not kept around once the new file is written */
out_nobackup:
	if (fptr && fclose(fptr) && rc == 0) {
		fprintf(stderr, "Error occurred updating password file.\n");
		rc = 1;
	}
	if (in) OPENSSL_cleanse(in, inlen);
	if (o.buf) OPENSSL_cleanse(o.buf, o.cap);
	free(in);
	free(o.buf);
	free(backup_file);
	return rc;
}

int main(int argc, char *argv[])
{
	const char *password_file_arg = NULL, *username = NULL, *password_cmd = NULL;
	bool batch_mode = false, create_new = false, delete_user = false, do_update_file = false;
	enum pw_type type = PW_SHA512_PBKDF2;
	int iterations = MIDGE_PW_DEFAULT_ITERATIONS;
	static char password[MAX_BUFFER_LEN];
	int idx, rc;

	struct sigaction sa = {.sa_handler = handle_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (argc == 1) {
		print_usage();
		return 1;
	}
	for (idx = 1; idx < argc; idx++) {
		if (!strcmp(argv[idx], "-H")) {
			if (idx + 1 == argc) {
				fprintf(stderr, "Error: -H argument given but not enough other arguments.\n");
				return 1;
			}
			if (!strcmp(argv[idx + 1], "sha512")) {
				type = PW_SHA512;
			} else if (!strcmp(argv[idx + 1], "sha512-pbkdf2")) {
				type = PW_SHA512_PBKDF2;
			} else {
				fprintf(stderr, "Error: Unknown hash type '%s'\n", argv[idx + 1]);
				return 1;
			}
			idx++;
		} else if (!strcmp(argv[idx], "-b")) {
			batch_mode = true;
		} else if (!strcmp(argv[idx], "-c")) {
			create_new = true;
		} else if (!strcmp(argv[idx], "-D")) {
			delete_user = true;
		} else if (!strcmp(argv[idx], "-I")) {
			if (idx + 1 == argc) {
				fprintf(stderr, "Error: -I argument given but not enough other arguments.\n");
				return 1;
			}
			iterations = atoi(argv[idx + 1]);
			idx++;
			if (iterations < 1) {
				fprintf(stderr, "Error: Number of iterations must be > 0.\n");
				return 1;
			}
		} else if (!strcmp(argv[idx], "-U")) {
			do_update_file = true;
		} else {
			break;
		}
	}

	if (create_new && delete_user) {
		fprintf(stderr, "Error: -c and -D cannot be used together.\n");
		return 1;
	}
	if (create_new && do_update_file) {
		fprintf(stderr, "Error: -c and -U cannot be used together.\n");
		return 1;
	}
	if (delete_user && do_update_file) {
		fprintf(stderr, "Error: -D and -U cannot be used together.\n");
		return 1;
	}
	if (delete_user && batch_mode) {
		fprintf(stderr, "Error: -b and -D cannot be used together.\n");
		return 1;
	}

	if (create_new) {
		if (batch_mode) {
			if (idx + 2 >= argc) {
				fprintf(stderr,
				        "Error: -c argument given but password file, username, or password missing.\n");
				return 1;
			}
			password_file_arg = argv[idx];
			username = argv[idx + 1];
			password_cmd = argv[idx + 2];
		} else {
			if (idx + 1 >= argc) {
				fprintf(stderr, "Error: -c argument given but password file or username missing.\n");
				return 1;
			}
			password_file_arg = argv[idx];
			username = argv[idx + 1];
		}
	} else if (delete_user) {
		if (idx + 1 >= argc) {
			fprintf(stderr, "Error: -D argument given but password file or username missing.\n");
			return 1;
		}
		password_file_arg = argv[idx];
		username = argv[idx + 1];
	} else if (do_update_file) {
		if (idx + 1 != argc) {
			fprintf(stderr, "Error: -U argument given but password file missing.\n");
			return 1;
		}
		password_file_arg = argv[idx];
	} else if (batch_mode && idx + 3 == argc) {
		password_file_arg = argv[idx];
		username = argv[idx + 1];
		password_cmd = argv[idx + 2];
	} else if (!batch_mode && idx + 2 == argc) {
		password_file_arg = argv[idx];
		username = argv[idx + 1];
	} else {
		print_usage();
		return 1;
	}

	if (!is_username_valid(username)) return 1;
	if (password_cmd && strlen(password_cmd) > 65535) {
		fprintf(stderr, "Error: Password must be less than 65536 characters long.\n");
		return 1;
	}

	char *password_file = realpath(password_file_arg, NULL);
	if (!password_file) {
		if (errno != ENOENT) {
			fprintf(stderr, "Error reading password file: %s\n", strerror(errno));
			return 1;
		}
		if (!(password_file = strdup(password_file_arg))) {
			fprintf(stderr, "Error: Out of memory.\n");
			return 1;
		}
	}

	if (create_new) {
		if (!batch_mode) {
			if ((rc = get_password(password, sizeof(password)))) {
				free(password_file);
				return rc;
			}
			password_cmd = password;
		}
		FILE *fptr = fopen(password_file, "w");
		if (!fptr) {
			fprintf(stderr, "Error: Unable to open file %s for writing. %s.\n", password_file,
			        strerror(errno));
			free(password_file);
			return 1;
		}
		free(password_file);
		struct out o = {0};
		rc = output_new_password(&o, username, password_cmd, type, iterations);
		if (!rc && (o.oom || fwrite(o.buf, 1, o.len, fptr) != o.len)) {
			fprintf(stderr, "Error occurred updating password file.\n");
			rc = 1;
		}
		if (fclose(fptr) && !rc) {
			fprintf(stderr, "Error occurred updating password file.\n");
			rc = 1;
		}
		if (o.buf) OPENSSL_cleanse(o.buf, o.cap);
		free(o.buf);
		OPENSSL_cleanse(password, sizeof(password));
		return rc;
	}

	if (delete_user) {
		rc = edit_file(password_file, MODE_DELETE_USER, username, NULL, type, iterations);
	} else if (do_update_file) {
		rc = edit_file(password_file, MODE_UPDATE_FILE, NULL, NULL, type, iterations);
	} else {
		if (!batch_mode) {
			/* mosquitto_passwd opens the file first: a missing file fails before any prompt. */
			if (access(password_file, R_OK | W_OK)) {
				fprintf(stderr, "Error: Unable to open password file %s. %s.\n", password_file,
				        strerror(errno));
				free(password_file);
				return 1;
			}
			if ((rc = get_password(password, sizeof(password)))) {
				free(password_file);
				return rc;
			}
			password_cmd = password;
		}
		rc = edit_file(password_file, MODE_UPDATE_USER, username, password_cmd, type, iterations);
	}
	OPENSSL_cleanse(password, sizeof(password));
	free(password_file);
	return rc;
}
