/* SPDX-License-Identifier: MIT */
/* Bindings asked for through the API: add (checked here, where the commands will run), remove,
 * list, deploy again (docs/BINDINGS.md). The deploy job itself is certkeeperd-jobs-deploy.c; its
 * outcome is applied in certkeeperd-state.c. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certkeeperd-bindings.h"
#include "certkeeperd-manager-private.h"
#include "parse-util.h"
#include "string-util.h"

#define NGINX_DEFAULT_CONFIG "/etc/nginx/nginx.conf"

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

/* The nginx binary in the daemon's PATH, or in the sbin directories a stock install uses. */
static bool nginx_found(void) {
        const char *path = getenv("PATH");
        _cleanup_free_ char *all = strjoin(strempty(path), ":/usr/sbin:/sbin:/usr/local/sbin");
        char *save = NULL;

        if (!all)
                return false;
        for (char *d = strtok_r(all, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *p = strjoin(d, "/nginx");
                if (p && access(p, X_OK) == 0)
                        return true;
        }
        return false;
}

static bool shell_safe(const char *s) {
        return !strpbrk(s, "'\n");
}

int manager_binding_add(Manager *m, int64_t cert_id, json_t *spec, int64_t *ret_id, char **reterr) {
        const char *kind = json_string_value(json_object_get(spec, "kind"));
        const char *config = json_string_value(json_object_get(spec, "config"));
        const char *test_cmd = json_string_value(json_object_get(spec, "test_command"));
        const char *reload_cmd = json_string_value(json_object_get(spec, "reload_command"));
        const char *command = json_string_value(json_object_get(spec, "command"));
        const char *endpoint = json_string_value(json_object_get(spec, "endpoint"));
        _cleanup_free_ char *test_def = NULL;
        BindingRecord b = { .cert_id = cert_id };
        int k;

        if (!kind)
                return errorf(reterr, -EINVAL, "Field 'kind' is missing: give nginx or command.");
        if ((streq(kind, "apache") || streq(kind, "haproxy") || streq(kind, "file")))
                return errorf(reterr, -EINVAL,
                              "Bindings of kind '%s' are not there yet; use 'command' with your own reload "
                              "command meanwhile (docs/BINDINGS.md).", kind);
        if (!(streq(kind, "nginx") || streq(kind, "command")))
                return errorf(reterr, -EINVAL, "Binding kind '%s' is unknown: give nginx or command.", kind);
        if (endpoint && !endpoint_valid(endpoint))
                return errorf(reterr, -EINVAL,
                              "Endpoint '%s' is not HOST:PORT[/SNI] (a port from 1 to 65535, no spaces or quotes), "
                              "for example 127.0.0.1:443/www.example.com.", endpoint);

        if (streq(kind, "command")) {
                if (isempty(command))
                        return errorf(reterr, -EINVAL, "A command binding needs --command CMD.");
                if (config || reload_cmd)
                        return errorf(reterr, -EINVAL, "A command binding takes --command (and --test-command, "
                                      "--endpoint), not --config or --reload-command.");
                reload_cmd = command;
        } else {
                if (command)
                        return errorf(reterr, -EINVAL, "An nginx binding takes --test-command and --reload-command, "
                                      "not --command.");
                config = config ?: NGINX_DEFAULT_CONFIG;
                if (config[0] != '/')
                        return errorf(reterr, -EINVAL, "The nginx configuration '%s' is not absolute; give a full path.",
                                      config);
                if (access(config, R_OK) < 0)
                        return errorf(reterr, -EINVAL, "The nginx configuration '%s' cannot be read by the daemon: %s.",
                                      config, strerror(errno));
                if ((!test_cmd || !reload_cmd) && !nginx_found())
                        return errorf(reterr, -EINVAL, "No nginx binary was found (PATH, /usr/sbin, /sbin): install "
                                      "nginx, or give --test-command and --reload-command.");
                if (!test_cmd) {
                        if (!shell_safe(config))
                                return errorf(reterr, -EINVAL, "The configuration path '%s' has a quote or a new line; "
                                              "give --test-command.", config);
                        test_def = strjoin("nginx -t -q -c '", config, "'");
                        if (!test_def)
                                return -ENOMEM;
                        test_cmd = test_def;
                }
                if (!reload_cmd)
                        reload_cmd = access("/run/systemd/system", F_OK) == 0 ? "systemctl reload nginx"
                                                                              : "nginx -s reload";
        }

        b.kind = (char *) kind;
        b.config = (char *) config;
        b.test_cmd = (char *) test_cmd;
        b.reload_cmd = (char *) reload_cmd;
        b.endpoint = (char *) endpoint;
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
        *ret = json_pack("{s:I, s:I, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:I}", "id", (json_int_t) b->id, "cert_id",
                         (json_int_t) b->cert_id, "kind", b->kind, "config", b->config, "test_command", b->test_cmd,
                         "reload_command", b->reload_cmd, "endpoint", b->endpoint, "last_result", b->last_result,
                         "last_at", (json_int_t) b->last_at);
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
        int k;

        k = store_cert_get(m->store, cert_id, &r);
        if (k == -ENOENT)
                return errorf(reterr, k, "No request found that matched arguments.");
        if (k < 0)
                return k;
        if (!r->sha256)
                return errorf(reterr, -ENODATA, "The request has no certificate yet: nothing to deploy.");
        k = manager_deploy_start(m, r, NULL);
        if (k == 0)
                return errorf(reterr, -ENOENT, "The request has no bindings; add one with 'certkeeper bind'.");
        if (k == -EBUSY)
                return errorf(reterr, -EAGAIN, "No worker is free; try again in a moment.");
        if (k < 0)
                return k;
        free(r->stage_deploy);
        r->stage_deploy = strdup("running");
        k = manager_tx_begin(m);
        if (k >= 0)
                k = store_cert_update(m->store, r, NULL);
        return k;
}
