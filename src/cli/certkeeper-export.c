/* SPDX-License-Identifier: MIT */
/* export: the certificate (and chain, and key) of a request into a file, PEM or PKCS#12 (event 1007).
 * The daemon builds it; this process writes it, atomically, as the user who runs it. */
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certkeeper-common.h"
#include "fs-util.h"
#include "pki-export.h"
#include "string-util.h"

enum {
        ARG_OUT = _ARG_COMMON_MAX,
        ARG_FORMAT,
        ARG_PASSWORD_FILE,
        ARG_WITH_KEY,
};

int verb_export(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "out", required_argument, NULL, ARG_OUT },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "password-file", required_argument, NULL, ARG_PASSWORD_FILE },
                { "with-key", no_argument, NULL, ARG_WITH_KEY },
                {}
        };
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_(erase_freep) char *password = NULL;
        _cleanup_free_ char *out = NULL, *path = NULL;
        _cleanup_free_ unsigned char *der = NULL;
        const char *id = NULL, *out_arg = NULL, *format = "pem", *password_file = NULL, *data;
        json_auto_t *body = NULL;
        bool with_key = false;
        FileAttrs attrs;
        size_t len;
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hi:o:", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: certkeeper export -i ID --out FILE [--format pem|pkcs12]\n"
                               "                         [--password-file FILE] [--with-key]\n"
                               "Writes the request's certificate and chain (and with --with-key its key) to\n"
                               "FILE, atomically; mode 0600 when it holds the key, 0644 otherwise. Raises\n"
                               "event 1007 (exported) with the path.\n\n"
                               "  -i ID|NICK            the request\n"
                               "  -o, --out=FILE        the file to write\n"
                               "  --format=pem|pkcs12   PEM (default) or PKCS#12 (needs --password-file)\n"
                               "  --password-file=FILE  the PKCS#12 password: the first line of FILE\n"
                               "  --with-key            include the private key\n");
                        return CLI_EXIT_OK;
                case 'i':
                        id = optarg;
                        break;
                case 'o':
                case ARG_OUT:
                        out_arg = optarg;
                        break;
                case ARG_FORMAT:
                        if (!streq(optarg, "pem") && !streq(optarg, "pkcs12") && !streq(optarg, "p12"))
                                return cli_fail(c, "--format is '%s'; use pem or pkcs12.", optarg);
                        format = streq(optarg, "pem") ? "pem" : "pkcs12";
                        break;
                case ARG_PASSWORD_FILE:
                        password_file = optarg;
                        break;
                case ARG_WITH_KEY:
                        with_key = true;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;
        if (!id)
                return cli_fail(c, "Give the request with -i ID.");
        if (!out_arg)
                return cli_fail(c, "Give the file to write with --out FILE.");
        if (streq(format, "pkcs12") && !password_file)
                return cli_fail(c, "A PKCS#12 file needs a password: give --password-file FILE (its first line).");
        if (password_file) {
                r = fs_read_password_file(password_file, &password);
                if (r == -ENODATA)
                        return cli_fail(c, "The password file '%s' has an empty first line.", password_file);
                if (r < 0)
                        return cli_fail(c, "Cannot read the password file '%s': %s.", password_file, strerror(-r));
        }
        r = cli_file_path(c, out_arg, &out);
        if (r < 0)
                return CLI_EXIT_FAILURE;

        body = json_pack("{s:s, s:b, s:s?, s:s}", "format", format, "with_key", with_key, "password", password,
                         "path", out);
        if (!body || api_client_cert_path(id, "export", &path) < 0)
                return cli_fail(c, "Out of memory.");
        if (cli_call_checked(c, "POST", path, body, &a) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;

        data = json_string_value(json_object_get(a.body, "data"));
        if (!data)
                return cli_fail(c, "The daemon's answer has no data.");
        if (streq_ptr(json_string_value(json_object_get(a.body, "encoding")), "base64")) {
                r = pki_base64_decode(data, &der, &len);
                if (r < 0)
                        return cli_fail(c, "The daemon's answer is not valid base64.");
                data = (const char *) der;
        } else
                len = strlen(data);

        attrs = FILE_ATTRS(with_key ? 0600 : 0644);
        r = fs_write_atomic(out, data, len, &attrs);
        if (der)
                explicit_bzero(der, len);
        if (r < 0)
                return cli_fail(c, "Cannot write '%s': %s.", out, strerror(-r));
        if (c->json) {
                json_auto_t *o = json_pack("{s:s, s:s, s:b, s:O?}", "path", out, "format", format, "with_key", with_key,
                                           "sha256", json_object_get(a.body, "sha256"));
                return o ? cli_print_json(o) : cli_fail(c, "Out of memory.");
        }
        printf("Exported the certificate%s of '%s' to '%s' (%s).\n", with_key ? " and its key" : "", id, out,
               streq(format, "pem") ? "PEM" : "PKCS#12");
        return CLI_EXIT_OK;
}
