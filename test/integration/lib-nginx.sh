# shellcheck shell=bash
# A private nginx on 127.0.0.1 for the binding tests and bench/rebind.sh: its prefix, configuration
# and command line under $T (set by the caller), and its configuration written with one TLS server
# block per certificate.
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
NP="$T/nginx"
NC="$NP/nginx.conf"
NGX="$NGINX -p $NP/ -c $NC -e $NP/logs/error.log"

# nginx_conf NAME:PORT...: a server block for each NAME (server_name NAME.test) on 127.0.0.1:PORT,
# serving $T/certs/NAME.pem with its key $T/certs/NAME.key and the body "NAME".
nginx_conf() {
        local s name port servers=""
        for s in "$@"; do
                name=${s%%:*}
                port=${s#*:}
                servers+="
        server {
                listen 127.0.0.1:$port ssl;
                server_name $name.test;
                ssl_certificate $T/certs/$name.pem;
                ssl_certificate_key $T/certs/$name.key;
                return 200 \"$name\\n\";
        }"
        done
        mkdir -p "$NP/logs" "$T/certs"
        cat >"$NC" <<CONF
daemon on;
pid $NP/nginx.pid;
error_log $NP/logs/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
        access_log off;
        client_body_temp_path $NP/client_body;
        proxy_temp_path $NP/proxy;
        fastcgi_temp_path $NP/fastcgi;
        uwsgi_temp_path $NP/uwsgi;
        scgi_temp_path $NP/scgi;$servers
}
CONF
}
