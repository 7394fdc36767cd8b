/* SPDX-License-Identifier: MIT */
/* certkeeperd: the certificate lifecycle daemon. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "certkeeperd-config.h"
#include "certkeeperd-database.h"
#include "certkeeperd-manager.h"
#include "config.h"
#include "fs-util.h"
#include "log.h"
#include "string-util.h"

static bool arg_foreground = false;
static bool arg_dump_config = false;
static char *arg_config = NULL;
static char *arg_state_dir = NULL;
static char *arg_run_dir = NULL;
static char *arg_log_level = NULL;
static char *arg_backup_database = NULL;
static char *arg_check_database = NULL;

static void help(void) {
        printf("certkeeperd [OPTIONS]\n\n"
               "The certificate lifecycle daemon: tracks, renews, saves and reports certificates.\n\n"
               "  -h --help             show this help\n"
               "     --version          show the version\n"
               "  -f --foreground       stay in the foreground and log to stderr\n"
               "  -c --config FILE      configuration file (default %s, if it exists)\n"
               "     --state-dir DIR    database, local CA and default store (default %s)\n"
               "     --run-dir DIR      API socket and api.json (default %s)\n"
               "  -d --log-level LEVEL  debug, info, notice, warning or err\n"
               "     --dump-config      print the effective configuration and exit\n",
               DEFAULT_CONFIG_FILE, DEFAULT_STATE_DIR, DEFAULT_RUN_DIR);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_STATE_DIR, ARG_RUN_DIR, ARG_DUMP_CONFIG, ARG_BACKUP_DATABASE, ARG_CHECK_DATABASE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "foreground", no_argument, NULL, 'f' },
                { "config", required_argument, NULL, 'c' },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "run-dir", required_argument, NULL, ARG_RUN_DIR },
                { "log-level", required_argument, NULL, 'd' },
                { "dump-config", no_argument, NULL, ARG_DUMP_CONFIG },
                { "backup-database", required_argument, NULL, ARG_BACKUP_DATABASE }, /* internal */
                { "check-database", required_argument, NULL, ARG_CHECK_DATABASE },   /* internal */
                {},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hfc:d:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("certkeeperd %s\n", PACKAGE_VERSION);
                        return 0;
                case 'f':
                        arg_foreground = true;
                        break;
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_STATE_DIR:
                        arg_state_dir = optarg;
                        break;
                case ARG_RUN_DIR:
                        arg_run_dir = optarg;
                        break;
                case 'd':
                        arg_log_level = optarg;
                        break;
                case ARG_DUMP_CONFIG:
                        arg_dump_config = true;
                        break;
                case ARG_BACKUP_DATABASE:
                        arg_backup_database = optarg;
                        break;
                case ARG_CHECK_DATABASE:
                        arg_check_database = optarg;
                        break;
                case ':':
                        fprintf(stderr, "Option '%s' needs a value; see --help.\n", argv[optind - 1]);
                        return -EINVAL;
                default:
                        fprintf(stderr, "Unknown option '%s'; see --help.\n", argv[optind - 1]);
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "Unexpected argument '%s'; see --help.\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int level_from_string(const char *s) {
        static const struct {
                const char *name;
                int level;
        } levels[] = {
                { "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE },
                { "warning", LOG_WARNING }, { "err", LOG_ERR },
        };
        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                if (streq(levels[i].name, s))
                        return levels[i].level;
        return -EINVAL;
}

/* READY=1 to $NOTIFY_SOCKET (sd_notify(3)), without libsystemd. */
static void notify_ready(void) {
        const char *path = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        static const char msg[] = "READY=1\nSTATUS=Processing requests...";
        socklen_t len;
        _cleanup_close_ int fd = -EBADF;

        if (isempty(path) || strlen(path) >= sizeof(sa.sun_path))
                return;
        memcpy(sa.sun_path, path, strlen(path));
        if (sa.sun_path[0] == '@')
                sa.sun_path[0] = '\0';
        len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(path));
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return;
        (void) sendto(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL, (struct sockaddr *) &sa, len);
}

static int load_config(Config *cfg) {
        _cleanup_free_ char *err = NULL;
        const char *path = arg_config;
        int r;

        config_init(cfg);
        if (!path && fs_exists(DEFAULT_CONFIG_FILE))
                path = DEFAULT_CONFIG_FILE;
        if (path) {
                r = config_parse_file(cfg, path, false, &err);
                if (r < 0) {
                        log_error("%s", strna(err));
                        return r;
                }
        }
        /* Command line beats the file. */
        if (arg_state_dir && cert_record_set(&cfg->state_dir, arg_state_dir) < 0)
                return log_oom();
        if (arg_run_dir && cert_record_set(&cfg->run_dir, arg_run_dir) < 0)
                return log_oom();
        if (arg_log_level && cert_record_set(&cfg->log_level, arg_log_level) < 0)
                return log_oom();
        if (level_from_string(cfg->log_level) < 0) {
                log_error("Unknown log level '%s': use debug, info, notice, warning or err.", cfg->log_level);
                return -EINVAL;
        }
        for (char **d = (char *[]) { cfg->state_dir, cfg->run_dir, NULL }; *d; d++) {
                if ((*d)[0] != '/') {
                        _cleanup_free_ char *absolute = NULL;
                        r = fs_path_absolute(*d, &absolute);
                        if (r < 0)
                                return log_oom();
                        if (*d == cfg->state_dir)
                                r = cert_record_set(&cfg->state_dir, absolute);
                        else
                                r = cert_record_set(&cfg->run_dir, absolute);
                        if (r < 0)
                                return log_oom();
                }
        }
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        Config cfg;
        int r;

        log_open("certkeeperd", LOG_TARGET_STDERR, true);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        umask(0022);
        if (arg_backup_database)
                return database_backup_run(arg_backup_database) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (arg_check_database) {
                r = database_check_run(arg_check_database);
                return r < 0 ? EXIT_FAILURE : r;
        }

        r = load_config(&cfg);
        if (r < 0) {
                config_done(&cfg);
                return EXIT_FAILURE;
        }
        if (arg_dump_config) {
                config_dump(&cfg, stdout);
                config_done(&cfg);
                return EXIT_SUCCESS;
        }

        log_open("certkeeperd", LOG_TARGET_AUTO, arg_foreground);
        log_set_max_level(level_from_string(cfg.log_level));

        r = manager_new(&cfg, arg_config, &m);
        config_done(&cfg);
        if (r < 0)
                return EXIT_FAILURE;

        log_info("certkeeperd %s started: %zu request(s) scheduled.", PACKAGE_VERSION, manager_scheduled(m));
        notify_ready();

        r = manager_run(m);
        if (r >= 0 && manager_restart_requested(m)) {
                m = manager_free(m);
                log_notice("certkeeperd restarting.");
                execv("/proc/self/exe", argv);
                log_error_errno(-errno, "Failed to restart: %m");
                return EXIT_FAILURE;
        }
        log_info("certkeeperd stopped.");
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
