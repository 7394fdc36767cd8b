/* SPDX-License-Identifier: MIT */
/* A small program that drives the ACME client library against a test CA (Pebble) for the
 * integration tests. http-01 is answered by a built-in responder thread on 127.0.0.1:<port>,
 * dns-01 through pebble-challtestsrv's management API (set-txt/clear-txt).
 *
 *   acme-drive [common options] account|issue|revoke|keychange|deactivate|update|ari-id|ari
 *
 * Exit status: 0 done, 75 ACME_WAIT (the order URL is printed as "order-url: <url>"), 1 failure
 * (the outcome and message on stderr as "outcome: <word>" and "message: <words>"). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "acme.h"
#include "fs-util.h"
#include "parse-util.h"
#include "string-util.h"

#define EXIT_WAIT 75

static const char *arg_dir, *arg_ca, *arg_key, *arg_key_type, *arg_email, *arg_eab_kid, *arg_eab_hmac,
        *arg_eab_alg, *arg_csr, *arg_out_cert, *arg_out_chain, *arg_preferred, *arg_order_url, *arg_challtest,
        *arg_cert, *arg_new_key, *arg_profile;
static char **arg_dns, **arg_ip;
static bool arg_agree_tos;
static int arg_http_port, arg_reason = -1;
static int64_t arg_budget_ms = 30000;
static AcmeChallengeType arg_challenge = ACME_CHALLENGE_HTTP01;

/* ---- http-01 responder ---- */

#define TOKENS_MAX 32

static struct {
        pthread_mutex_t lock;
        char *token[TOKENS_MAX];
        char *keyauth[TOKENS_MAX];
        int fd;
        unsigned served;
} responder = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

static void serve_one(int fd) {
        char req[2048], resp[1024];
        const char *prefix = "GET /.well-known/acme-challenge/";
        const char *body = NULL;
        size_t n = 0;
        ssize_t k;

        while (n < sizeof(req) - 1) {
                k = read(fd, req + n, sizeof(req) - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t) k;
                req[n] = '\0';
                if (strstr(req, "\r\n\r\n"))
                        break;
        }
        req[n] = '\0';
        pthread_mutex_lock(&responder.lock);
        if (startswith(req, prefix)) {
                size_t tl = strcspn(req + strlen(prefix), " ?\r\n");
                for (size_t i = 0; i < TOKENS_MAX; i++)
                        if (responder.token[i] && strlen(responder.token[i]) == tl &&
                            strneq(responder.token[i], req + strlen(prefix), tl)) {
                                body = responder.keyauth[i];
                                responder.served++;
                        }
        }
        if (body)
                snprintf(resp, sizeof(resp),
                         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         strlen(body), body);
        else
                snprintf(resp, sizeof(resp), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        pthread_mutex_unlock(&responder.lock);
        (void) !write(fd, resp, strlen(resp));
}

static void *responder_main(void *p) {
        for (;;) {
                int fd = accept4(responder.fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EINTR)
                                continue;
                        return NULL;
                }
                serve_one(fd);
                close(fd);
        }
}

static int responder_start(int port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        pthread_t t;
        int one = 1;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        responder.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (responder.fd < 0)
                return -errno;
        (void) setsockopt(responder.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(responder.fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(responder.fd, 16) < 0)
                return -errno;
        if (pthread_create(&t, NULL, responder_main, NULL) != 0)
                return -ENOMEM;
        pthread_detach(t);
        return 0;
}

static int http_present(void *userdata, const char *identifier, const char *token, const char *key_authorization,
                        const char *dns_txt_value, char **reterr) {
        int r = -ENOSPC;

        pthread_mutex_lock(&responder.lock);
        for (size_t i = 0; i < TOKENS_MAX; i++)
                if (!responder.token[i] || streq(responder.token[i], token)) {
                        free(responder.token[i]);
                        free(responder.keyauth[i]);
                        responder.token[i] = strdup(token);
                        responder.keyauth[i] = strdup(key_authorization);
                        r = 0;
                        break;
                }
        pthread_mutex_unlock(&responder.lock);
        fprintf(stderr, "present http-01 %s %s\n", identifier, token);
        return r;
}

static void http_cleanup(void *userdata, const char *identifier, const char *token) {
        pthread_mutex_lock(&responder.lock);
        for (size_t i = 0; i < TOKENS_MAX; i++)
                if (responder.token[i] && streq(responder.token[i], token)) {
                        responder.token[i] = mfree(responder.token[i]);
                        responder.keyauth[i] = mfree(responder.keyauth[i]);
                }
        pthread_mutex_unlock(&responder.lock);
        fprintf(stderr, "cleanup http-01 %s %s\n", identifier, token);
}

/* ---- dns-01 through challtestsrv ---- */

static size_t discard(char *p, size_t s, size_t n, void *u) {
        return s * n;
}

static int challtest_post(const char *path, const char *body) {
        _cleanup_free_ char *url = strjoin(arg_challtest, path);
        CURL *c = curl_easy_init();
        long status = 0;
        CURLcode cc;

        if (!url || !c) {
                if (c)
                        curl_easy_cleanup(c);
                return -ENOMEM;
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        return cc == CURLE_OK && status == 200 ? 0 : -EIO;
}

static int dns_present(void *userdata, const char *identifier, const char *token, const char *key_authorization,
                       const char *dns_txt_value, char **reterr) {
        char body[1024];

        snprintf(body, sizeof(body), "{\"host\":\"_acme-challenge.%s.\",\"value\":\"%s\"}", identifier, dns_txt_value);
        fprintf(stderr, "present dns-01 %s %s\n", identifier, dns_txt_value);
        if (challtest_post("/set-txt", body) < 0)
                return errorf(reterr, -EIO, "challtestsrv set-txt failed");
        return 0;
}

static void dns_cleanup(void *userdata, const char *identifier, const char *token) {
        char body[512];

        snprintf(body, sizeof(body), "{\"host\":\"_acme-challenge.%s.\"}", identifier);
        (void) challtest_post("/clear-txt", body);
        fprintf(stderr, "cleanup dns-01 %s\n", identifier);
}

/* ---- verbs ---- */

static int fail(const AcmeError *e, int r) {
        fprintf(stderr, "outcome: %s\nerrno: %s\ntype: %s\nretry-after: %lld\nmessage: %s\n",
                strna(acme_outcome_to_string(e->outcome)), strerror(-r), strna(e->type), (long long) e->retry_after,
                strna(e->message));
        return e->outcome == ACME_WAIT ? EXIT_WAIT : 1;
}

static int read_csr(char **ret) {
        _cleanup_free_ char *der = NULL;
        size_t len = 0;
        int r;

        r = fs_read_file(arg_csr, 65536, &der, &len);
        if (r < 0)
                return r;
        return base64url_encode(der, len, ret);
}

static int write_out(const char *path, const char *data) {
        if (!path || !data)
                return 0;
        return fs_write_atomic(path, data, strlen(data), &FILE_ATTRS(0644));
}

static int verb_issue(AcmeClient *c) {
        _cleanup_(acme_error_done) AcmeError e = {};
        _cleanup_(acme_order_result_done) AcmeOrderResult res = {};
        _cleanup_free_ char *csr = NULL;
        AcmeChallengeHandler h = {
                .type = arg_challenge,
                .present = arg_challenge == ACME_CHALLENGE_DNS01 ? dns_present : http_present,
                .cleanup = arg_challenge == ACME_CHALLENGE_DNS01 ? dns_cleanup : http_cleanup,
        };
        int r;

        if (!arg_csr) {
                fprintf(stderr, "--csr is needed\n");
                return 1;
        }
        r = read_csr(&csr);
        if (r < 0) {
                fprintf(stderr, "cannot read CSR: %s\n", strerror(-r));
                return 1;
        }
        if (arg_challenge == ACME_CHALLENGE_HTTP01) {
                r = responder_start(arg_http_port);
                if (r < 0) {
                        fprintf(stderr, "cannot listen on 127.0.0.1:%d: %s\n", arg_http_port, strerror(-r));
                        return 1;
                }
        }
        AcmeOrderRequest req = {
                .csr_der_b64url = csr,
                .dns = arg_dns,
                .ip = arg_ip,
                .profile = arg_profile,
                .preferred_chain = arg_preferred,
                .order_url = arg_order_url,
                .poll_budget_ms = arg_budget_ms,
        };
        r = acme_order(c, &req, &h, &res, &e);
        if (res.order_url)
                printf("order-url: %s\n", res.order_url);
        if (r < 0)
                return fail(&e, r);
        printf("cert-url: %s\n", res.cert_url);
        if (write_out(arg_out_cert, res.cert_pem) < 0 || write_out(arg_out_chain, res.chain_pem) < 0) {
                fprintf(stderr, "cannot write the certificate\n");
                return 1;
        }
        return 0;
}

static int verb_account(AcmeClient *c) {
        _cleanup_(acme_error_done) AcmeError e = {};
        const char *url = NULL;
        int r;

        r = acme_account_ensure(c, &url, &e);
        if (r < 0)
                return fail(&e, r);
        printf("account-url: %s\n", url);
        return 0;
}

static int verb_revoke(AcmeClient *c) {
        _cleanup_(acme_error_done) AcmeError e = {};
        _cleanup_free_ char *pem = NULL;
        int r;

        if (!arg_cert || fs_read_file(arg_cert, 1 << 20, &pem, NULL) < 0) {
                fprintf(stderr, "cannot read --cert\n");
                return 1;
        }
        r = acme_revoke(c, pem, arg_reason, &e);
        if (r < 0)
                return fail(&e, r);
        printf("revoked\n");
        return 0;
}

static int verb_keychange(AcmeClient *c) {
        _cleanup_(acme_error_done) AcmeError e = {};
        const char *url = NULL;
        int r;

        r = acme_account_ensure(c, &url, &e);
        if (r < 0)
                return fail(&e, r);
        printf("account-url: %s\n", url);
        r = acme_key_change(c, arg_new_key, &e);
        if (r < 0)
                return fail(&e, r);
        printf("key-changed\n");
        return 0;
}

static int verb_deactivate(AcmeClient *c) {
        _cleanup_(acme_error_done) AcmeError e = {};
        int r;

        r = acme_account_deactivate(c, &e);
        if (r < 0)
                return fail(&e, r);
        printf("deactivated\n");
        return 0;
}

static int verb_update(AcmeClient *c) {
        _cleanup_(acme_error_done) AcmeError e = {};
        int r;

        r = acme_account_update(c, arg_email, &e);
        if (r < 0)
                return fail(&e, r);
        printf("updated\n");
        return 0;
}

static int verb_ari(AcmeClient *c) {
        _cleanup_(acme_error_done) AcmeError e = {};
        _cleanup_free_ char *pem = NULL, *id = NULL, *expl = NULL;
        int64_t start = 0, end = 0, ra = 0;
        int r;

        if (!arg_cert || fs_read_file(arg_cert, 1 << 20, &pem, NULL) < 0) {
                fprintf(stderr, "cannot read --cert\n");
                return 1;
        }
        r = acme_ari_cert_id(pem, &id);
        if (r < 0) {
                fprintf(stderr, "no ARI id: %s\n", strerror(-r));
                return 1;
        }
        printf("ari-id: %s\n", id);
        r = acme_ari_get(c, id, &start, &end, &expl, &ra, &e);
        if (r == -EOPNOTSUPP) {
                printf("ari: unsupported\n");
                return 0;
        }
        if (r < 0)
                return fail(&e, r);
        printf("ari-window: %lld %lld\n", (long long) start, (long long) end);
        return 0;
}

int main(int argc, char **argv) {
        enum {
                OPT_DIR = 0x100, OPT_CA, OPT_KEY, OPT_KEY_TYPE, OPT_EMAIL, OPT_AGREE, OPT_EAB_KID, OPT_EAB_HMAC,
                OPT_EAB_ALG, OPT_CSR, OPT_DNS, OPT_IP, OPT_CHALLENGE, OPT_HTTP_PORT, OPT_CHALLTEST, OPT_OUT_CERT,
                OPT_OUT_CHAIN, OPT_PREFERRED, OPT_BUDGET, OPT_ORDER_URL, OPT_CERT, OPT_REASON, OPT_NEW_KEY,
                OPT_PROFILE,
        };
        static const struct option options[] = {
                { "dir", required_argument, NULL, OPT_DIR },
                { "ca", required_argument, NULL, OPT_CA },
                { "key", required_argument, NULL, OPT_KEY },
                { "key-type", required_argument, NULL, OPT_KEY_TYPE },
                { "email", required_argument, NULL, OPT_EMAIL },
                { "agree-tos", no_argument, NULL, OPT_AGREE },
                { "eab-kid", required_argument, NULL, OPT_EAB_KID },
                { "eab-hmac", required_argument, NULL, OPT_EAB_HMAC },
                { "eab-alg", required_argument, NULL, OPT_EAB_ALG },
                { "csr", required_argument, NULL, OPT_CSR },
                { "dns", required_argument, NULL, OPT_DNS },
                { "ip", required_argument, NULL, OPT_IP },
                { "challenge", required_argument, NULL, OPT_CHALLENGE },
                { "http-port", required_argument, NULL, OPT_HTTP_PORT },
                { "challtest", required_argument, NULL, OPT_CHALLTEST },
                { "out-cert", required_argument, NULL, OPT_OUT_CERT },
                { "out-chain", required_argument, NULL, OPT_OUT_CHAIN },
                { "preferred-chain", required_argument, NULL, OPT_PREFERRED },
                { "budget-ms", required_argument, NULL, OPT_BUDGET },
                { "order-url", required_argument, NULL, OPT_ORDER_URL },
                { "cert", required_argument, NULL, OPT_CERT },
                { "reason", required_argument, NULL, OPT_REASON },
                { "new-key", required_argument, NULL, OPT_NEW_KEY },
                { "profile", required_argument, NULL, OPT_PROFILE },
                {},
        };
        _cleanup_(acme_client_freep) AcmeClient *c = NULL;
        _cleanup_strv_free_ char **dns = NULL, **ip = NULL;
        const char *verb;
        int o, r;

        while ((o = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (o) {
                case OPT_DIR: arg_dir = optarg; break;
                case OPT_CA: arg_ca = optarg; break;
                case OPT_KEY: arg_key = optarg; break;
                case OPT_KEY_TYPE: arg_key_type = optarg; break;
                case OPT_EMAIL: arg_email = optarg; break;
                case OPT_AGREE: arg_agree_tos = true; break;
                case OPT_EAB_KID: arg_eab_kid = optarg; break;
                case OPT_EAB_HMAC: arg_eab_hmac = optarg; break;
                case OPT_EAB_ALG: arg_eab_alg = optarg; break;
                case OPT_CSR: arg_csr = optarg; break;
                case OPT_DNS:
                        if (strv_extend(&dns, optarg) < 0)
                                return 1;
                        break;
                case OPT_IP:
                        if (strv_extend(&ip, optarg) < 0)
                                return 1;
                        break;
                case OPT_CHALLENGE:
                        r = acme_challenge_type_from_string(optarg);
                        if (r < 0)
                                return 1;
                        arg_challenge = (AcmeChallengeType) r;
                        break;
                case OPT_HTTP_PORT:
                        if (safe_atoi(optarg, &arg_http_port) < 0)
                                return 1;
                        break;
                case OPT_CHALLTEST: arg_challtest = optarg; break;
                case OPT_OUT_CERT: arg_out_cert = optarg; break;
                case OPT_OUT_CHAIN: arg_out_chain = optarg; break;
                case OPT_PREFERRED: arg_preferred = optarg; break;
                case OPT_BUDGET:
                        if (safe_atoi64(optarg, &arg_budget_ms) < 0)
                                return 1;
                        break;
                case OPT_ORDER_URL: arg_order_url = optarg; break;
                case OPT_CERT: arg_cert = optarg; break;
                case OPT_REASON:
                        if (safe_atoi(optarg, &arg_reason) < 0)
                                return 1;
                        break;
                case OPT_NEW_KEY: arg_new_key = optarg; break;
                case OPT_PROFILE: arg_profile = optarg; break;
                default:
                        return 1;
                }
        if (optind >= argc || !arg_dir || !arg_key) {
                fprintf(stderr, "usage: acme-drive --dir URL --key PATH [options] VERB\n");
                return 1;
        }
        arg_dns = dns;
        arg_ip = ip;
        verb = argv[optind];

        AcmeConfig cfg = {
                .directory_url = arg_dir,
                .ca_bundle = arg_ca,
                .account_key_path = arg_key,
                .account_key_type = arg_key_type,
                .email = arg_email,
                .agree_tos = arg_agree_tos,
                .eab_kid = arg_eab_kid,
                .eab_hmac_key = arg_eab_hmac,
                .eab_alg = arg_eab_alg,
                .user_agent = "certkeeper-acme-drive",
        };
        r = acme_client_new(&cfg, &c);
        if (r < 0) {
                fprintf(stderr, "acme_client_new: %s\n", strerror(-r));
                return 1;
        }

        if (streq(verb, "account"))
                return verb_account(c);
        if (streq(verb, "issue"))
                return verb_issue(c);
        if (streq(verb, "revoke"))
                return verb_revoke(c);
        if (streq(verb, "keychange"))
                return verb_keychange(c);
        if (streq(verb, "deactivate"))
                return verb_deactivate(c);
        if (streq(verb, "update"))
                return verb_update(c);
        if (streq(verb, "ari"))
                return verb_ari(c);
        fprintf(stderr, "unknown verb '%s'\n", verb);
        return 1;
}
