/* SPDX-License-Identifier: MIT */
/* The manager: start-up, the one event loop (epoll + timerfd + signalfd), the scheduler, and the
 * calls the API makes. The state machine itself is in certkeeperd-state.c. */
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ca-local.h"
#include "cert-json.h"
#include "certkeeperd-database.h"
#include "certkeeperd-manager-private.h"
#include "certkeeperd-manager.h"
#include "fs-util.h"
#include "log.h"
#include "parse-util.h"
#include "pki-key.h"
#include "renew-policy.h"
#include "string-util.h"

/* epoll tags */
enum {
        TAG_TIMER = 1,
        TAG_SIGNAL,
        TAG_API,
        TAG_WATCH,
        TAG_WORKER_BASE = 1000,
        TAG_HELPER_BASE = 2000, /* workers are at most 256 */
};

static int64_t now_sec(void) {
        return (int64_t) time(NULL);
}

Store *manager_store(Manager *m) {
        return m->store;
}

const char *manager_state_dir(Manager *m) {
        return m->cfg.state_dir;
}

uid_t manager_uid(Manager *m) {
        return geteuid();
}

gid_t manager_admin_gid(Manager *m) {
        return m->admin_gid;
}

unsigned manager_workers_total(Manager *m) {
        return worker_pool_size(m->pool);
}

unsigned manager_workers_busy(Manager *m) {
        return worker_pool_busy(m->pool);
}

int64_t manager_next_action_at(Manager *m) {
        return scheduler_peek(m->scheduler, NULL);
}

int manager_tx_begin(Manager *m) {
        int r;

        if (m->in_transaction)
                return 0;
        r = store_begin(m->store);
        if (r < 0)
                return r;
        m->in_transaction = true;
        return 0;
}

/* Commits what the current iteration changed, then hands the jobs it queued to the workers: a job
 * never starts from a state that is not yet durable. */
int manager_tx_commit(Manager *m) {
        int r = 0;

        manager_seal_batches(m);

        if (m->in_transaction) {
                m->in_transaction = false;
                r = store_commit(m->store);
                if (r < 0) {
                        log_error_errno(r, "Failed to commit to the database: %m");
                        (void) store_rollback(m->store);
                }
        }

        if (m->api)
                api_release_held(m->api, r);

        for (unsigned i = 0; i < m->n_queued; i++) {
                QueuedJob *q = &m->queue[i];
                int k = worker_pool_submit(m->pool, q->job, q->cookie);
                if (k < 0)
                        cert_job_done(m, q->cookie, NULL, "the job could not be handed to a worker");
                json_decref(q->job);
        }
        m->n_queued = 0;
        for (unsigned i = 0; i < m->n_helper_queued; i++) {
                QueuedJob *q = &m->helper_queue[i];
                int k = worker_pool_submit(m->helper_pool, q->job, q->cookie);
                if (k < 0)
                        cert_job_done(m, q->cookie, NULL, "the job could not be handed to a helper worker");
                json_decref(q->job);
        }
        m->n_helper_queued = 0;
        return r;
}

int manager_schedule(Manager *m, int64_t id, int64_t at) {
        return scheduler_set(m->scheduler, id, at);
}

static unsigned open_batches(Manager *m) {
        unsigned n = 0;
        for (unsigned op = 0; op < _JOB_OP_MAX; op++)
                if (m->open_batch[op] >= 0)
                        n++;
        return n;
}

unsigned manager_workers_available(Manager *m) {
        unsigned idle = worker_pool_size(m->pool) - worker_pool_busy(m->pool), used = m->n_queued + open_batches(m);
        return idle > used ? idle - used : 0;
}

bool manager_has_capacity(Manager *m) {
        if (manager_workers_available(m) > 0)
                return true;
        for (unsigned op = 0; op < _JOB_OP_MAX; op++)
                if (m->open_batch[op] >= 0 && m->batches[m->open_batch[op]].n < BATCH_MAX)
                        return true;
        return false;
}

bool manager_in_flight(Manager *m, int64_t id) {
        for (unsigned i = 0; i < m->n_queued; i++)
                if (m->queue[i].cookie >= 0 && m->queue[i].cookie / _JOB_OP_MAX == id)
                        return true;
        for (unsigned i = 0; i < m->n_helper_queued; i++)
                if (m->helper_queue[i].cookie >= 0 && m->helper_queue[i].cookie / _JOB_OP_MAX == id)
                        return true;
        if (worker_pool_running(m->helper_pool, id, _JOB_OP_MAX))
                return true;
        for (unsigned b = 0; b < m->n_batches; b++)
                if (m->batches[b].state != BATCH_FREE)
                        for (unsigned i = 0; i < m->batches[b].n; i++)
                                if (m->batches[b].ids[i] == id)
                                        return true;
        return worker_pool_running(m->pool, id, _JOB_OP_MAX);
}

static int queue_push(Manager *m, int64_t cookie, json_t *job) {
        if (m->n_queued >= worker_pool_size(m->pool)) {
                json_decref(job);
                return -EBUSY;
        }
        m->queue[m->n_queued++] = (QueuedJob) { .cookie = cookie, .job = job };
        return 0;
}

static void seal_batch(Manager *m, JobOp op, bool force) {
        int slot = m->open_batch[op];
        Batch *b;
        json_t *job;

        if (slot < 0)
                return;
        /* Deploys wait for the others of their window, so that a service fed by several
         * certificates renewed together is reloaded once (docs/BINDINGS.md). */
        if (op == JOB_DEPLOY && !force && now_usec(CLOCK_MONOTONIC) < m->deploy_seal_at)
                return;
        if (op == JOB_DEPLOY)
                m->deploy_seal_at = 0;
        b = &m->batches[slot];
        m->open_batch[op] = -1;
        job = json_pack("{s:s, s:O}", "op", op == JOB_ISSUE ? "issue" : op == JOB_DEPLOY ? "deploy" : "save", "items",
                        b->items);
        b->state = BATCH_BUSY;
        if (!job || queue_push(m, -(int64_t) slot - 1, job) < 0)
                cert_job_done(m, -(int64_t) slot - 1, NULL, "the job could not be queued");
}

void manager_seal_batches(Manager *m) {
        for (unsigned op = 0; op < _JOB_OP_MAX; op++)
                seal_batch(m, (JobOp) op, false);
}

void batch_free_slot(Manager *m, unsigned slot) {
        Batch *b = &m->batches[slot];

        json_decref(b->items);
        *b = (Batch) { .state = BATCH_FREE };
}

unsigned manager_helpers_available(Manager *m) {
        unsigned idle = worker_pool_size(m->helper_pool) - worker_pool_busy(m->helper_pool);
        return idle > m->n_helper_queued ? idle - m->n_helper_queued : 0;
}

int manager_queue_helper_job(Manager *m, int64_t id, JobOp op, json_t *job) {
        if (manager_helpers_available(m) == 0) {
                json_decref(job);
                for (size_t i = 0; i < m->helper_waiting.n; i++)
                        if (m->helper_waiting.ids[i] == id)
                                return -EAGAIN;
                return id_list_push(&m->helper_waiting, id) < 0 ? -ENOMEM : -EAGAIN;
        }
        m->helper_queue[m->n_helper_queued++] = (QueuedJob) { .cookie = id * _JOB_OP_MAX + op, .job = job };
        return 0;
}

int manager_queue_job(Manager *m, int64_t id, JobOp op, json_t *job) {
        Batch *b;
        int slot = m->open_batch[op], k;

        if (op == JOB_READ) {
                if (manager_workers_available(m) == 0) {
                        json_decref(job);
                        return -EBUSY;
                }
                k = queue_push(m, id * _JOB_OP_MAX + op, job);
                if (k >= 0)
                        manager_watch_reading(m, id);
                return k;
        }

        if (slot < 0) {
                if (manager_workers_available(m) == 0) {
                        json_decref(job);
                        return -EBUSY;
                }
                for (unsigned i = 0; i < m->n_batches; i++)
                        if (m->batches[i].state == BATCH_FREE) {
                                slot = (int) i;
                                break;
                        }
                if (slot < 0) {
                        json_decref(job);
                        return -EBUSY;
                }
                b = &m->batches[slot];
                *b = (Batch) { .state = BATCH_OPEN, .op = op, .items = json_array() };
                if (!b->items) {
                        json_decref(job);
                        return -ENOMEM;
                }
                m->open_batch[op] = slot;
                if (op == JOB_DEPLOY)
                        m->deploy_seal_at = now_usec(CLOCK_MONOTONIC) +
                                            (usec_t) m->cfg.bindings_batch_window_ms * USEC_PER_MSEC;
        }
        b = &m->batches[slot];
        b->ids[b->n++] = id;
        json_array_append_new(b->items, job);
        if (b->n >= BATCH_MAX)
                seal_batch(m, op, true);
        return 0;
}

int manager_history(Manager *m, int64_t cert_id, const char *stage, const char *result, const char *message,
                    int64_t duration_ms) {
        HistoryRecord h = {
                .cert_id = cert_id,
                .at = now_sec(),
                .stage = (char *) strempty(stage),
                .result = (char *) strempty(result),
                .message = (char *) message,
                .duration_ms = duration_ms,
        };
        int r = manager_tx_begin(m);
        if (r < 0)
                return r;
        return store_history_add(m->store, &h);
}

static void on_job_done(void *userdata, int64_t cookie, json_t *reply, const char *failure) {
        cert_job_done(userdata, cookie, reply, failure);
        /* A worker is free: deploys that waited for one go first. */
        manager_deploys_waiting_run(userdata);
}

/* A helper worker is free: what waited for one goes first. */
static void on_helper_done(void *userdata, int64_t cookie, json_t *reply, const char *failure) {
        Manager *m = userdata;
        int64_t now = now_sec();

        if (cookie <= -DELIVERY_COOKIE_BASE)
                manager_delivery_done(m, cookie, reply, failure);
        else if (cookie <= -ACME_OP_COOKIE_BASE)
                manager_acme_op_done(m, cookie, reply, failure);
        else if (cookie < 0)
                manager_ca_data_done(m, cookie, reply, failure);
        else {
                cert_job_done(m, cookie, reply, failure);
                manager_acme_job_done(m, cookie / _JOB_OP_MAX, reply);
        }

        /* Someone waits for the answer of these. */
        manager_acme_ops_start(m);
        /* Each pending CA once: one whose refresh is still running goes back to the list, and
         * taking it again here would spin while a helper worker is free. */
        for (size_t n = strv_length(m->ca_refresh_pending);
             n > 0 && m->ca_refresh_pending && m->ca_refresh_pending[0] && manager_helpers_available(m) > 0; n--) {
                _cleanup_free_ char *name = m->ca_refresh_pending[0];
                memmove(m->ca_refresh_pending, m->ca_refresh_pending + 1,
                        strv_length(m->ca_refresh_pending) * sizeof(char *));
                (void) manager_ca_refresh_start(m, name);
        }
        /* As many as there are free helper workers, oldest first: waking all of them at each
         * completion would step every waiting request again and again in a burst. */
        size_t n = MIN(m->helper_waiting.n, (size_t) manager_helpers_available(m));
        for (size_t i = 0; i < n; i++)
                if (scheduler_set(m->scheduler, m->helper_waiting.ids[i], now) < 0)
                        log_oom();
        if (n > 0) {
                memmove(m->helper_waiting.ids, m->helper_waiting.ids + n, (m->helper_waiting.n - n) * sizeof(int64_t));
                m->helper_waiting.n -= n;
        }
}

/* Arms the timer for the earliest due time, or disarms it: nothing wakes when nothing is due. With
 * all workers busy, the next job reply wakes the loop instead. */
static int arm_timer(Manager *m) {
        int64_t at = 0;
        struct itimerspec its = {};

        if (manager_has_capacity(m))
                at = scheduler_peek(m->scheduler, NULL);
        if (m->next_backup_at > 0)
                at = at > 0 ? MIN(at, m->next_backup_at) : m->next_backup_at;
        if (m->next_ca_refresh_at > 0)
                at = at > 0 ? MIN(at, m->next_ca_refresh_at) : m->next_ca_refresh_at;
        if (m->next_event_prune_at > 0)
                at = at > 0 ? MIN(at, m->next_event_prune_at) : m->next_event_prune_at;
        if (m->next_sub_attempt_at > 0)
                at = at > 0 ? MIN(at, m->next_sub_attempt_at) : m->next_sub_attempt_at;

        if (at == m->timer_armed_at)
                return 0;
        if (at > 0)
                its.it_value.tv_sec = (time_t) at;
        /* at == 0 leaves it_value zero: disarmed. */
        if (timerfd_settime(m->timer_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0)
                return -errno;
        m->timer_armed_at = at;
        return 0;
}

static void run_due(Manager *m) {
        int64_t now = now_sec(), id;

        while (manager_has_capacity(m) && (id = scheduler_pop_due(m->scheduler, now)) > 0) {
                int r = cert_step(m, id, now);
                if (r == -EBUSY) {
                        /* No worker for its kind of job: it waits for the next free one. */
                        if (scheduler_set(m->scheduler, id, now) < 0)
                                log_oom();
                        break;
                }
                /* -EAGAIN: no free helper worker; it is in helper_waiting, and the others go on. */
        }
}

static void maybe_backup(Manager *m) {
        int64_t now = now_sec();
        int r;

        if (m->next_backup_at <= 0 || now < m->next_backup_at || m->backup_pid > 0)
                return;
        /* Make sure everything is in the main file before copying it. */
        r = database_backup_start(m->db_path, &m->backup_pid);
        if (r < 0)
                log_warning_errno(r, "Failed to start the database backup, retrying in an hour: %m");
        m->next_backup_at = now + (r < 0 ? 3600 : m->cfg.backup_interval);
}

static void reap_children(Manager *m) {
        int status;

        if (m->check_pid > 0 && waitpid(m->check_pid, &status, WNOHANG) == m->check_pid) {
                m->check_pid = 0;
                if (WIFEXITED(status) && WEXITSTATUS(status) == DATABASE_CHECK_DAMAGED) {
                        log_crit("The background integrity check found the database damaged; restarting to "
                                 "restore it from the backup.");
                        m->restart_requested = true;
                        m->exit_requested = true;
                } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        log_warning("The background integrity check of '%s' did not complete; see the "
                                    "message above.", m->db_path);
                else
                        log_debug("Database integrity check passed.");
        }

        if (m->backup_pid > 0 && waitpid(m->backup_pid, &status, WNOHANG) == m->backup_pid) {
                if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                        _cleanup_free_ char *v = NULL;
                        log_info("Database backed up to '%s.bak'.", m->db_path);
                        if (asprintf(&v, "%" PRIi64, now_sec()) >= 0 && manager_tx_begin(m) >= 0 &&
                            store_meta_set(m->store, "last_backup_at", v) < 0)
                                log_warning("Failed to record the backup time, ignoring.");
                } else
                        log_warning("Database backup to '%s.bak' failed; see the message above.", m->db_path);
                m->backup_pid = 0;
        }
        worker_pool_reap(m->pool);
        worker_pool_reap(m->helper_pool);
}

static int log_level_of(const char *s) {
        static const char *const names[] = {
                [LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i] && streq_ptr(names[i], s))
                        return (int) i;
        return -EINVAL;
}

static int reload_config(Manager *m) {
        _cleanup_(config_done) Config scratch = {};
        _cleanup_free_ char *err = NULL, *text = NULL;
        int r;

        if (!m->config_path) {
                log_info("Reload requested; no config file is in use.");
                return 0;
        }
        /* Check the whole file on a scratch copy first: a bad file must leave every setting as it
         * was, not only those after the bad line. */
        config_init(&scratch);
        r = fs_read_file(m->config_path, 1024 * 1024, &text, NULL);
        if (r < 0)
                return log_error_errno(r, "Reload failed, keeping the previous settings: cannot read '%s': %m",
                                       m->config_path);
        r = config_parse_string(&scratch, text, m->config_path, false, &err);
        if (r >= 0)
                r = config_parse_string(&m->cfg, text, m->config_path, true, &err);
        if (r < 0)
                return log_error_errno(r, "Reload failed, keeping the previous settings: %s", strna(err));
        m->n_notify_ttls = config_notify_ttls(&m->cfg, m->notify_ttls, NOTIFY_TTLS_MAX);
        if (cert_notices_reschedule(m, now_sec()) < 0)
                log_warning("Failed to reschedule expiry notices for the new notify_ttls, ignoring.");
        log_notice("Configuration reloaded from '%s'.", m->config_path);
        /* After the message, so that it is logged under the level it was sent with. */
        r = log_level_of(m->cfg.log_level);
        if (r >= 0)
                log_set_max_level(r);
        return 0;
}

static int process_signal(Manager *m) {
        struct signalfd_siginfo si;
        ssize_t n = read(m->signal_fd, &si, sizeof(si));

        if (n != sizeof(si))
                return 0;
        switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
                log_info("Received %s, stopping.", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                m->exit_requested = true;
                break;
        case SIGHUP:
                (void) reload_config(m);
                break;
        case SIGCHLD:
                reap_children(m);
                break;
        default:
                break;
        }
        return 0;
}

int manager_run(Manager *m) {
        struct epoll_event events[64];

        manager_deploys_resume(m);

        while (!m->exit_requested) {
                int n, timeout = -1, r;
                usec_t api_timeout;

                /* The start-up check goes a chunk further, from the turn after the first sync. */
                manager_watch_scan(m);
                manager_watch_sync(m);
                run_due(m);
                maybe_backup(m);
                manager_events_prune(m, now_sec());
                manager_ca_refresh_due(m);
                (void) manager_tx_commit(m);
                /* Deliveries read committed events only; moving a cursor past events that do not
                 * match is committed at once. */
                manager_subscriptions_run(m);
                (void) manager_tx_commit(m);
                /* Answers released by the commit go out now: a resumed connection does not wake
                 * the epoll fd of libmicrohttpd by itself. */
                (void) api_process(m->api);

                r = arm_timer(m);
                if (r < 0)
                        return log_error_errno(r, "Failed to arm the timer: %m");

                api_timeout = MIN(api_get_timeout(m->api), manager_watch_timeout(m));
                if (api_has_held(m->api))
                        /* Requests that came in just now: commit and answer them at once, but first
                         * take what else is ready. Skipping the poll would leave the workers' replies
                         * unread (and the workers idle) for as long as requests keep coming. */
                        timeout = 0;
                else if (api_timeout != USEC_INFINITY)
                        timeout = (int) MIN(api_timeout / USEC_PER_MSEC + 1, (usec_t) INT_MAX);
                if (m->deploy_seal_at > 0) {
                        /* The open deploy batch goes to a worker when its window ends. */
                        usec_t now = now_usec(CLOCK_MONOTONIC);
                        int left = m->deploy_seal_at > now ? (int) ((m->deploy_seal_at - now) / USEC_PER_MSEC + 1) : 0;
                        timeout = timeout < 0 ? left : MIN(timeout, left);
                }

                n = epoll_wait(m->epoll_fd, events, ELEMENTSOF(events), timeout);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(-errno, "epoll_wait() failed: %m");
                }

                /* File changes first: one made by a job of ours is then seen while the job still
                 * counts as running, even when its reply came in the same batch. */
                for (int i = 0; i < n; i++)
                        if (events[i].data.u64 == TAG_WATCH)
                                manager_watch_read(m);
                for (int i = 0; i < n; i++) {
                        uint64_t tag = events[i].data.u64;

                        if (tag == TAG_TIMER) {
                                uint64_t exp;
                                /* ECANCELED after a clock change: just re-evaluate. */
                                (void) read(m->timer_fd, &exp, sizeof(exp));
                                m->timer_armed_at = -1;
                        } else if (tag == TAG_SIGNAL)
                                (void) process_signal(m);
                        else if (tag >= TAG_HELPER_BASE)
                                (void) worker_pool_process(m->helper_pool, (unsigned) (tag - TAG_HELPER_BASE));
                        else if (tag >= TAG_WORKER_BASE)
                                (void) worker_pool_process(m->pool, (unsigned) (tag - TAG_WORKER_BASE));
                }
                /* Changed files whose changes settled are read again at the next turn. */
                manager_watch_run(m);
                /* MHD is driven every iteration: cheap, and it also completes responses whose
                 * sockets became writable. */
                (void) api_process(m->api);
        }

        (void) manager_tx_commit(m);
        return 0;
}

static int ensure_builtin_cas(Manager *m) {
        static const struct {
                const char *name, *type;
                bool is_default;
        } builtin[] = {
                { "SelfSign", "INTERNAL:SELF", false },
                { "local", "INTERNAL:LOCAL", true },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(builtin); i++) {
                CARecord ca = {};
                r = store_ca_get(m->store, builtin[i].name, &ca);
                ca_record_done(&ca);
                if (r >= 0)
                        continue;
                if (r != -ENOENT)
                        return r;
                CARecord n = {
                        .name = (char *) builtin[i].name,
                        .type = (char *) builtin[i].type,
                        .is_default = builtin[i].is_default,
                        .created_at = now_sec(),
                };
                r = store_ca_insert(m->store, &n, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_schedule_cb(int64_t id, int64_t at, void *userdata) {
        Manager *m = userdata;
        return scheduler_set(m->scheduler, id, at);
}

static int epoll_add(Manager *m, int fd, uint64_t tag) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
        return RET_NERRNO(epoll_ctl(m->epoll_fd, EPOLL_CTL_ADD, fd, &ev));
}

static int setup_local_ca(Manager *m) {
        _cleanup_(local_ca_freep) LocalCA *ca = NULL;
        _cleanup_free_ char *err = NULL;
        LocalCAConfig cfg = {
                .root_lifetime = m->cfg.local_root_lifetime,
                .issuing_lifetime = m->cfg.local_issuing_lifetime,
        };
        int r;

        r = local_ca_open(m->local_ca_dir, &cfg, now_sec(), &ca, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the local CA in '%s': %s", m->local_ca_dir, strna(err));
        if (r > 0)
                log_notice("Local CA created or renewed in '%s'; its roots for trust stores: '%s'.",
                           m->local_ca_dir, local_ca_roots_path(ca));
        return 0;
}

static int setup_admin_group(Manager *m) {
        struct group *g;

        m->admin_gid = (gid_t) -1;
        if (isempty(m->cfg.admin_group))
                return 0;
        g = getgrnam(m->cfg.admin_group);
        if (!g)
                return log_error_errno(-ENOENT, "admin_group '%s' does not exist: create it or fix the setting.",
                                       m->cfg.admin_group);
        m->admin_gid = g->gr_gid;
        return 0;
}

int manager_new(Config *cfg, const char *config_path, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *err = NULL, *sock = NULL, *token = NULL, *api_json = NULL;
        sigset_t mask;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return log_oom();
        m->epoll_fd = m->timer_fd = m->signal_fd = -EBADF;
        for (unsigned op = 0; op < _JOB_OP_MAX; op++)
                m->open_batch[op] = -1;
        m->cfg = *cfg;
        *cfg = (Config) {};
        if (config_path) {
                m->config_path = strdup(config_path);
                if (!m->config_path)
                        return log_oom();
        }
        m->n_notify_ttls = config_notify_ttls(&m->cfg, m->notify_ttls, NOTIFY_TTLS_MAX);

        r = setup_admin_group(m);
        if (r < 0)
                return r;

        m->db_path = strjoin(m->cfg.state_dir, "/certkeeper.db");
        m->local_ca_dir = strjoin(m->cfg.state_dir, "/local-ca");
        m->certs_dir = strjoin(m->cfg.state_dir, "/certs");
        m->archive_dir = strjoin(m->cfg.state_dir, "/archive");
        sock = strjoin(m->cfg.run_dir, "/api.sock");
        token = strjoin(m->cfg.state_dir, "/api-token");
        api_json = strjoin(m->cfg.run_dir, "/api.json");
        if (!m->db_path || !m->local_ca_dir || !m->certs_dir || !m->archive_dir || !sock || !token || !api_json)
                return log_oom();

        r = fs_mkdir_p(m->cfg.state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create the state directory '%s': %m", m->cfg.state_dir);
        r = fs_mkdir_p(m->cfg.run_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create the run directory '%s': %m", m->cfg.run_dir);
        r = fs_mkdir_p(m->certs_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", m->certs_dir);

        r = database_open(m->db_path, false, &m->store);
        if (r < 0)
                return r;
        r = ensure_builtin_cas(m);
        if (r == -EBADMSG) {
                /* Damage that the quick open did not see: check in full, restore or refuse. */
                m->store = store_free(m->store);
                r = database_open(m->db_path, true, &m->store);
                if (r < 0)
                        return r;
                r = ensure_builtin_cas(m);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to record the built-in CAs: %m");

        r = setup_local_ca(m);
        if (r < 0)
                return r;

        m->scheduler = scheduler_new();
        if (!m->scheduler)
                return log_oom();

        /* Signals are handled in the loop; the workers (forked next) unblock them again. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "sigprocmask() failed: %m");
        (void) signal(SIGPIPE, SIG_IGN);

        m->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        m->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
        m->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (m->epoll_fd < 0 || m->timer_fd < 0 || m->signal_fd < 0)
                return log_error_errno(-errno, "Failed to set up the event loop: %m");

        unsigned n_workers = m->cfg.workers > 0 ? (unsigned) m->cfg.workers
                                                 : 2 * (unsigned) MAX(sysconf(_SC_NPROCESSORS_ONLN), 1L);
        r = worker_pool_new(n_workers, on_job_done, m, &m->pool);
        if (r < 0)
                return log_error_errno(r, "Failed to start %u worker processes: %m", n_workers);
        worker_pool_set_epoll(m->pool, m->epoll_fd, TAG_WORKER_BASE);
        m->queue = calloc(n_workers, sizeof(QueuedJob));
        m->n_batches = n_workers + _JOB_OP_MAX;
        m->batches = calloc(m->n_batches, sizeof(Batch));
        if (!m->queue || !m->batches)
                return log_oom();
        for (unsigned op = 0; op < _JOB_OP_MAX; op++)
                m->open_batch[op] = -1;
        for (unsigned i = 0; i < n_workers; i++) {
                r = epoll_add(m, worker_pool_fd(m->pool, i), TAG_WORKER_BASE + i);
                if (r < 0)
                        return log_error_errno(r, "epoll_ctl() failed: %m");
        }

        unsigned n_helpers = (unsigned) m->cfg.helper_workers;
        r = worker_pool_new(n_helpers, on_helper_done, m, &m->helper_pool);
        if (r < 0)
                return log_error_errno(r, "Failed to start %u helper worker processes: %m", n_helpers);
        worker_pool_set_epoll(m->helper_pool, m->epoll_fd, TAG_HELPER_BASE);
        m->helper_queue = calloc(n_helpers, sizeof(QueuedJob));
        m->n_ca_slots = n_helpers;
        m->ca_refreshing = calloc(n_helpers, sizeof(char *));
        m->n_delivery_slots = n_helpers;
        m->deliveries = calloc(n_helpers, sizeof(struct Delivery));
        if (!m->helper_queue || !m->ca_refreshing || !m->deliveries)
                return log_oom();
        for (unsigned i = 0; i < n_helpers; i++) {
                r = epoll_add(m, worker_pool_fd(m->helper_pool, i), TAG_HELPER_BASE + i);
                if (r < 0)
                        return log_error_errno(r, "epoll_ctl() failed: %m");
        }

        ApiConfig api_cfg = {
                .socket_path = sock,
                .tcp_address = m->cfg.api_tcp ? m->cfg.api_address : NULL,
                .tcp_port = (uint16_t) m->cfg.api_port,
                .token_path = token,
                .api_json_path = api_json,
                .max_body = 64 * 1024,
                .stream_keepalive = (usec_t) m->cfg.events_stream_keepalive * USEC_PER_SEC,
        };
        r = api_new(m, &api_cfg, &m->api, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to start the API: %s", strna(err));

        int fds[2];
        unsigned nfds = api_get_fds(m->api, fds);
        for (unsigned i = 0; i < nfds; i++) {
                r = epoll_add(m, fds[i], TAG_API);
                if (r < 0)
                        return log_error_errno(r, "epoll_ctl() failed: %m");
        }
        r = epoll_add(m, m->timer_fd, TAG_TIMER);
        if (r >= 0)
                r = epoll_add(m, m->signal_fd, TAG_SIGNAL);
        if (r >= 0) {
                int wfd = manager_watch_start(m);
                r = wfd > 0 ? epoll_add(m, wfd, TAG_WATCH) : 0;
        }
        if (r < 0)
                return log_error_errno(r, "epoll_ctl() failed: %m");

        /* Resume: interrupted jobs go back one state; everything else keeps its schedule. */
        r = manager_tx_begin(m);
        if (r >= 0)
                r = cert_resume_all(m, now_sec());
        if (r < 0)
                return log_error_errno(r, "Failed to resume interrupted requests: %m");
        r = store_cert_foreach_schedule(m->store, load_schedule_cb, m);
        if (r < 0)
                return log_error_errno(r, "Failed to load the schedule: %m");
        r = manager_tx_commit(m);
        if (r < 0)
                return r;

        /* Check the whole file in the background, so that a large store is ready at once. */
        r = database_check_start(m->db_path, &m->check_pid);
        if (r < 0)
                log_warning_errno(r, "Failed to start the database integrity check, ignoring: %m");

        /* Back up (in the background; the backup checks the file itself) every backup_interval,
         * starting now. */
        m->next_backup_at = now_sec();
        /* The EXTERNAL CAs' data is fetched again at each start, then every refresh_interval. */
        m->next_ca_refresh_at = now_sec();
        /* Events older than [events] keep go at start-up, then daily. */
        m->next_event_prune_at = now_sec();
        /* Deliveries resume from the subscriptions' cursors. */
        m->subs_dirty = true;
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        for (unsigned i = 0; i < m->n_queued; i++)
                json_decref(m->queue[i].job);
        free(m->queue);
        for (unsigned i = 0; i < m->n_batches; i++)
                json_decref(m->batches[i].items);
        free(m->batches);
        for (unsigned i = 0; i < m->n_helper_queued; i++)
                json_decref(m->helper_queue[i].job);
        free(m->helper_queue);
        for (unsigned i = 0; i < m->n_ca_slots; i++)
                free(m->ca_refreshing[i]);
        free(m->ca_refreshing);
        strv_free(m->ca_refresh_pending);
        id_list_done(&m->helper_waiting);
        json_decref(m->deploy_waiting);
        manager_acme_stop_responders(m);
        manager_acme_ops_free(m);
        manager_deliveries_free(m);
        id_list_done(&m->acme_in_flight);
        manager_acme_paces_free(m);
        api_free(m->api);
        file_watch_free(m->watch);
        worker_pool_free(m->pool);
        worker_pool_free(m->helper_pool);
        if (m->backup_pid > 0)
                (void) waitpid(m->backup_pid, NULL, 0);
        if (m->check_pid > 0) {
                (void) kill(m->check_pid, SIGTERM);
                (void) waitpid(m->check_pid, NULL, 0);
        }
        scheduler_free(m->scheduler);
        store_free(m->store);
        safe_close(m->epoll_fd);
        safe_close(m->timer_fd);
        safe_close(m->signal_fd);
        config_done(&m->cfg);
        free(m->config_path);
        free(m->db_path);
        free(m->local_ca_dir);
        free(m->certs_dir);
        free(m->archive_dir);
        free(m);
        return NULL;
}

bool manager_restart_requested(Manager *m) {
        return m->restart_requested;
}

size_t manager_scheduled(Manager *m) {
        return scheduler_size(m->scheduler);
}
