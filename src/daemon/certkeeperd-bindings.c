/* SPDX-License-Identifier: MIT */
/* Bindings asked for through the API: add (checked here, where the commands will run), remove,
 * list, deploy again (docs/BINDINGS.md). The deploy job itself is certkeeperd-jobs-deploy.c; its
 * outcome is applied in certkeeperd-state.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certkeeperd-bindings.h"
#include "certkeeperd-manager-private.h"
#include "fs-util.h"
#include "parse-util.h"
#include "string-util.h"

/* The services certkeeper knows: where a stock Debian install keeps the configuration, the
 * programs that test it, and how it is reloaded. */
typedef struct ServiceKind {
        const char *name;
        const char *config;          /* default configuration */
        const char *const *binaries; /* the control program: the first found is used */
        const char *test_args;       /* after BIN, before the quoted configuration */
        const char *unit;            /* systemctl reload UNIT where systemd runs */
        const char *reload_args;     /* after BIN: the reload without systemd, NULL: --reload-command needed */
        bool writes_pem;             /* writes a combined PEM to --path */
} ServiceKind;

static const ServiceKind service_kinds[] = {
        { "nginx", "/etc/nginx/nginx.conf", (const char *const[]) { "nginx", NULL }, " -t -q -c", "nginx", " -s reload",
          false },
        { "apache", "/etc/apache2/apache2.conf", (const char *const[]) { "apache2ctl", "apachectl", NULL },
          " -t -f", "apache2", " graceful", false },
        { "haproxy", "/etc/haproxy/haproxy.cfg", (const char *const[]) { "haproxy", NULL }, " -c -q -f", "haproxy",
          NULL, true },
};

/* What the file kind writes (docs/BINDINGS.md). */
static const char *const file_layouts[] = { "cert", "chain", "fullchain", "key", "combined", "pkcs12" };

/* HOST:PORT[/SNI]: a host name or address ([v6] in brackets), a port from 1 to 65535. */
static bool endpoint_valid(const char *e) {
        const char *slash = strchr(e, '/'), *colon;
        _cleanup_free_ char *hp = slash ? strndup(e, (size_t) (slash - e)) : strdup(e);
        unsigned port = 0;

        if (!hp || isempty(hp) || (slash && isempty(slash + 1)))
                return false;
        colon = strrchr(hp, ':');
        if (!colon || colon == hp || safe_atou(colon + 1, &port) < 0 || port < 1 || port > 65535)
                return false;
        if (hp[0] == '[' && colon[-1] != ']')
                return false;
        for (const char *p = e; *p; p++)
                if (*p <= ' ' || *p == '\'' || *p == '"')
                        return false;
        return true;
}

#define ENDPOINT_PROBE_MSEC 1000

/* Whether something accepts TCP connections at the endpoint: a binding whose endpoint never answers
 * could never be verified. Only addresses and "localhost" are tried (a name would need DNS here, in
 * the daemon's loop); a connection refused answers at once, silence is waited for 1 s at most. */
static int endpoint_probe(const char *endpoint, char **reterr) {
        const char *slash = strchr(endpoint, '/');
        _cleanup_free_ char *hp = slash ? strndup(endpoint, (size_t) (slash - endpoint)) : strdup(endpoint);
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
        struct addrinfo *ai = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *host;
        char *colon;
        int err = 0, r;

        if (!hp)
                return -ENOMEM;
        colon = strrchr(hp, ':');
        if (!colon)
                return 0;
        *colon = '\0';
        host = hp;
        if (host[0] == '[' && colon[-1] == ']') {
                colon[-1] = '\0';
                host++;
        }
        if (streq(host, "localhost"))
                host = "127.0.0.1";
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
                return 0; /* a name: checked by the first deploy */
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                freeaddrinfo(ai);
                return 0;
        }
        r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        if (r < 0 && errno != EINPROGRESS)
                err = errno;
        else if (r < 0) {
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                socklen_t len = sizeof(err);

                r = poll(&p, 1, ENDPOINT_PROBE_MSEC);
                if (r == 0)
                        err = ETIMEDOUT;
                else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
        }
        if (err == 0)
                return 0;
        return errorf(reterr, -EINVAL, "Nothing answers at the endpoint '%s' (%s), so the certificate could "
                      "never be verified there: start the service first, correct --endpoint, or add the binding "
                      "anyway with --no-endpoint-check.", endpoint, strerror(err));
}

/* A program in the daemon's PATH, or in the sbin directories a stock install uses. */
static bool program_found(const char *name) {
        const char *path = getenv("PATH");
        _cleanup_free_ char *all = strjoin(strempty(path), ":/usr/sbin:/sbin:/usr/local/sbin");
        char *save = NULL;

        if (!all)
                return false;
        for (char *d = strtok_r(all, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *p = strjoin(d, "/", name);
                if (p && access(p, X_OK) == 0)
                        return true;
        }
        return false;
}

static bool shell_safe(const char *s) {
        return !strpbrk(s, "'\n");
}

static const ServiceKind *service_kind(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(service_kinds); i++)
                if (streq(service_kinds[i].name, name))
                        return service_kinds + i;
        return NULL;
}

static bool layout_known(const char *l) {
        for (size_t i = 0; i < ELEMENTSOF(file_layouts); i++)
                if (streq(file_layouts[i], l))
                        return true;
        return false;
}

/* An absolute path in a directory that exists. */
static int check_target_path(const char *what, const char *path, char **reterr) {
        _cleanup_free_ char *dir = NULL;
        struct stat st;

        if (path[0] != '/')
                return errorf(reterr, -EINVAL, "The %s '%s' is not absolute; give a full path.", what, path);
        dir = strndup(path, (size_t) (strrchr(path, '/') - path));
        if (!dir)
                return -ENOMEM;
        if (stat(isempty(dir) ? "/" : dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return errorf(reterr, -EINVAL, "The directory of the %s '%s' does not exist; create it first.", what,
                              path);
        return 0;
}

/* A pkcs12 binding's password file: absolute, readable by the daemon, with a password on its
 * first line. It is read again at each deploy (a changed password is used then). */
static int check_password_file(const char *path, char **reterr) {
        _cleanup_(erase_freep) char *password = NULL;
        int k;

        if (path[0] != '/')
                return errorf(reterr, -EINVAL, "The password file '%s' is not absolute; give a full path.", path);
        k = fs_read_password_file(path, &password);
        if (k == -ENODATA)
                return errorf(reterr, -EINVAL, "The password file '%s' has an empty first line; write the password "
                              "on its first line.", path);
        if (k < 0)
                return errorf(reterr, -EINVAL, "The password file '%s' cannot be read by the daemon: %s; create it, "
                              "or let the daemon's user read it.", path, strerror(-k));
        return 0;
}

/* nginx, apache, haproxy: the configuration checked, the default commands resolved. */
static int service_fill(const ServiceKind *k, const char **config, const char **test_cmd, const char **reload_cmd,
                        char **ret_test, char **ret_reload, char **reterr) {
        const char *bin = NULL;

        *config = *config ?: k->config;
        if ((*config)[0] != '/')
                return errorf(reterr, -EINVAL, "The %s configuration '%s' is not absolute; give a full path.", k->name,
                              *config);
        if (access(*config, R_OK) < 0)
                return errorf(reterr, -EINVAL, "The %s configuration '%s' cannot be read by the daemon: %s.", k->name,
                              *config, strerror(errno));
        if (*test_cmd && *reload_cmd)
                return 0;
        for (const char *const *b = k->binaries; *b && !bin; b++)
                if (program_found(*b))
                        bin = *b;
        if (!bin)
                return errorf(reterr, -EINVAL, "No %s binary was found (%s in PATH, /usr/sbin, /sbin): install %s, or "
                              "give --test-command and --reload-command.", k->name, k->binaries[0], k->name);
        if (!*test_cmd) {
                if (!shell_safe(*config))
                        return errorf(reterr, -EINVAL, "The configuration path '%s' has a quote or a new line; "
                                      "give --test-command.", *config);
                *ret_test = strjoin(bin, k->test_args, " '", *config, "'");
                if (!*ret_test)
                        return -ENOMEM;
                *test_cmd = *ret_test;
        }
        if (!*reload_cmd) {
                if (access("/run/systemd/system", F_OK) == 0) {
                        /* Red Hat's Apache is the unit httpd, with apachectl. */
                        const char *unit = streq(bin, "apachectl") && !program_found("apache2") ? "httpd" : k->unit;
                        if (asprintf(ret_reload, "systemctl reload %s", unit) < 0)
                                return -ENOMEM;
                } else if (!k->reload_args)
                        return errorf(reterr, -EINVAL,
                                      "systemd is not running, and %s has no reload command of its own: give "
                                      "--reload-command (for example 'kill -USR2 MASTER-PID').", k->name);
                else if (!(*ret_reload = strjoin(bin, k->reload_args)))
                        return -ENOMEM;
                *reload_cmd = *ret_reload;
        }
        return 0;
}

/* haproxy's combined PEM by default: beside the key, "NAME.haproxy.pem" for the key "NAME.key". */
static int haproxy_default_path(Manager *m, int64_t cert_id, char **ret, char **reterr) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        const char *dot, *slash;
        int k;

        k = store_cert_get(m->store, cert_id, &r);
        if (k < 0)
                return k;
        if (isempty(r->key_path))
                return errorf(reterr, -EINVAL, "The request has no key file to derive haproxy's combined PEM from; "
                              "give --path FILE.");
        slash = strrchr(r->key_path, '/');
        dot = strrchr(r->key_path, '.');
        if (!dot || (slash && dot < slash))
                dot = r->key_path + strlen(r->key_path);
        return asprintf(ret, "%.*s.haproxy.pem", (int) (dot - r->key_path), r->key_path) < 0 ? -ENOMEM : 0;
}

int manager_binding_add(Manager *m, int64_t cert_id, json_t *spec, int64_t *ret_id, char **reterr) {
        const char *kind = json_string_value(json_object_get(spec, "kind"));
        const char *config = json_string_value(json_object_get(spec, "config"));
        const char *test_cmd = json_string_value(json_object_get(spec, "test_command"));
        const char *reload_cmd = json_string_value(json_object_get(spec, "reload_command"));
        const char *command = json_string_value(json_object_get(spec, "command"));
        const char *endpoint = json_string_value(json_object_get(spec, "endpoint"));
        const char *path = json_string_value(json_object_get(spec, "path"));
        const char *layout = json_string_value(json_object_get(spec, "layout"));
        const char *owner = json_string_value(json_object_get(spec, "owner"));
        const char *mode_s = json_string_value(json_object_get(spec, "mode"));
        const char *password_file = json_string_value(json_object_get(spec, "password_file"));
        _cleanup_free_ char *test_def = NULL, *reload_def = NULL, *path_def = NULL;
        const ServiceKind *sk = kind ? service_kind(kind) : NULL;
        BindingRecord b = { .cert_id = cert_id };
        mode_t mode = 0;
        uid_t uid;
        gid_t gid;
        int k;

        if (!kind)
                return errorf(reterr, -EINVAL,
                              "Field 'kind' is missing: give nginx, apache, haproxy, file or command.");
        if (!sk && !streq(kind, "command") && !streq(kind, "file"))
                return errorf(reterr, -EINVAL, "Binding kind '%s' is unknown: give nginx, apache, haproxy, file or "
                              "command.", kind);
        if (endpoint && !endpoint_valid(endpoint))
                return errorf(reterr, -EINVAL,
                              "Endpoint '%s' is not HOST:PORT[/SNI] (a port from 1 to 65535, no spaces or quotes), "
                              "for example 127.0.0.1:443/www.example.com.", endpoint);
        if (json_object_get(spec, "check_endpoint") && !json_is_boolean(json_object_get(spec, "check_endpoint")))
                return errorf(reterr, -EINVAL, "Field 'check_endpoint' must be true or false.");
        if (endpoint && !json_is_false(json_object_get(spec, "check_endpoint"))) {
                k = endpoint_probe(endpoint, reterr);
                if (k < 0)
                        return k;
        }
        if (json_object_get(spec, "mode") && !mode_s)
                return errorf(reterr, -EINVAL, "Field 'mode' must be a string of octal digits, such as \"0640\".");
        if (json_object_get(spec, "password_file") && !password_file)
                return errorf(reterr, -EINVAL, "Field 'password_file' must be a string: the absolute path of the "
                              "file whose first line is the password.");
        if ((layout || owner || mode_s || password_file) && !streq(kind, "file"))
                return errorf(reterr, -EINVAL,
                              "--layout, --owner, --mode and --password-file are for file bindings only.");
        if (path && !streq(kind, "file") && !streq(kind, "haproxy"))
                return errorf(reterr, -EINVAL, "--path is for haproxy and file bindings only.");

        if (streq(kind, "command")) {
                if (isempty(command))
                        return errorf(reterr, -EINVAL, "A command binding needs --command CMD.");
                if (config || reload_cmd)
                        return errorf(reterr, -EINVAL, "A command binding takes --command (and --test-command, "
                                      "--endpoint), not --config or --reload-command.");
                reload_cmd = command;
        } else if (streq(kind, "file")) {
                if (command || config)
                        return errorf(reterr, -EINVAL, "A file binding takes --path, --layout, --owner, --mode (and "
                                      "--test-command, --reload-command, --endpoint), not --command or --config.");
                if (isempty(path))
                        return errorf(reterr, -EINVAL, "A file binding needs --path FILE.");
                layout = layout ?: "fullchain";
                if (!layout_known(layout))
                        return errorf(reterr, -EINVAL, "Layout '%s' is unknown: give cert, chain, fullchain, key, "
                                      "combined or pkcs12.", layout);
                if (owner && parse_owner(owner, &uid, &gid) < 0)
                        return errorf(reterr, -EINVAL, "Owner '%s' is not a known USER[:GROUP] on this system.", owner);
                if (mode_s && (parse_mode(mode_s, &mode) < 0 || mode == 0))
                        return errorf(reterr, -EINVAL, "Mode '%s' is not an octal file mode such as 0640.", mode_s);
                if (password_file && !streq(layout, "pkcs12"))
                        return errorf(reterr, -EINVAL, "--password-file is for the pkcs12 layout only, and the layout "
                                      "is '%s': give --layout pkcs12, or drop --password-file.", layout);
                if (password_file) {
                        k = check_password_file(password_file, reterr);
                        if (k < 0)
                                return k;
                }
        } else {
                if (command)
                        return errorf(reterr, -EINVAL, "A%s %s binding takes --test-command and --reload-command, "
                                      "not --command.", streq(kind, "nginx") ? "n" : "", kind);
                k = service_fill(sk, &config, &test_cmd, &reload_cmd, &test_def, &reload_def, reterr);
                if (k < 0)
                        return k;
                if (sk->writes_pem && !path) {
                        k = haproxy_default_path(m, cert_id, &path_def, reterr);
                        if (k < 0)
                                return k;
                        path = path_def;
                }
        }
        if (path) {
                k = check_target_path(streq(kind, "file") ? "file" : "combined PEM", path, reterr);
                if (k < 0)
                        return k;
        }

        b.kind = (char *) kind;
        b.config = (char *) config;
        b.test_cmd = (char *) test_cmd;
        b.reload_cmd = (char *) reload_cmd;
        b.endpoint = (char *) endpoint;
        b.path = (char *) path;
        b.layout = (char *) (sk && sk->writes_pem ? "combined" : layout);
        b.owner = (char *) owner;
        b.mode = mode;
        b.password_file = (char *) password_file;
        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        return store_binding_add(m->store, &b, ret_id);
}

int manager_binding_remove(Manager *m, int64_t cert_id, int64_t id, char **reterr) {
        int k = manager_tx_begin(m);

        if (k < 0)
                return k;
        k = store_binding_delete(m->store, cert_id, id);
        if (k == -ENOENT)
                return id > 0 ? errorf(reterr, k, "The request has no binding %" PRIi64 ".", id)
                              : errorf(reterr, k, "The request has no bindings.");
        return k;
}

int binding_record_to_json(const BindingRecord *b, json_t **ret) {
        char mode[16] = "";

        if (b->mode > 0)
                (void) snprintf(mode, sizeof(mode), "%04o", (unsigned) b->mode);
        *ret = json_pack("{s:I, s:I, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:s?, s:s?, s:s?, s:s?, s:s?}", "id",
                         (json_int_t) b->id, "cert_id", (json_int_t) b->cert_id, "kind", b->kind, "config", b->config,
                         "test_command", b->test_cmd, "reload_command", b->reload_cmd, "endpoint", b->endpoint,
                         "last_result", b->last_result, "last_at", (json_int_t) b->last_at, "path", b->path, "layout",
                         b->layout, "owner", b->owner, "mode", b->mode > 0 ? mode : NULL, "password_file",
                         b->password_file);
        return *ret ? 0 : -ENOMEM;
}

static int list_one(const BindingRecord *b, void *userdata) {
        json_t *o;
        int k = binding_record_to_json(b, &o);

        if (k < 0)
                return k;
        return json_array_append_new(userdata, o) < 0 ? -ENOMEM : 0;
}

int manager_bindings_json(Manager *m, int64_t cert_id, json_t **ret) {
        json_auto_t *items = json_array();
        int k;

        if (!items)
                return -ENOMEM;
        k = store_binding_foreach(m->store, cert_id, list_one, items);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(items);
        return 0;
}

int manager_deploy(Manager *m, int64_t cert_id, char **reterr) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        bool waiting;
        int k;

        k = store_cert_get(m->store, cert_id, &r);
        if (k == -ENOENT)
                return errorf(reterr, k, "No request found that matched arguments.");
        if (k < 0)
                return k;
        if (!r->sha256)
                return errorf(reterr, -ENODATA, "The request has no certificate yet: nothing to deploy.");
        /* One deploy at a time per certificate: a second one would take the place of the first's
         * record of what to restore. */
        if (streq_ptr(r->stage_deploy, "running") || streq_ptr(r->stage_deploy, "waiting"))
                return errorf(reterr, -EALREADY, "A deploy of this certificate is under way; wait for its result "
                              "('certkeeper bindings -i %s'), then run deploy again if needed.", strna(r->nickname));
        k = manager_deploy_start(m, r, NULL);
        if (k == 0)
                return errorf(reterr, -ENOENT, "The request has no bindings; add one with 'certkeeper bind'.");
        if (k < 0 && k != -EBUSY)
                return k;
        /* -EBUSY: no worker free, it waits for one. */
        waiting = k == -EBUSY;
        free(r->stage_deploy);
        r->stage_deploy = strdup(waiting ? "waiting" : "running");
        k = manager_tx_begin(m);
        if (k >= 0)
                k = store_cert_update(m->store, r, NULL);
        return k < 0 ? k : waiting;
}
