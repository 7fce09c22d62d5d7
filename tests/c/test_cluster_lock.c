/* A lock held through a leader kill in a real 3-member cluster (issue: "C,
 * Python and Node take the server list and survive a leader kill with locks
 * held"). Starts three `coord serve` processes ($COORD_BIN) on 127.0.0.1
 * with free ports and fresh data dirs; clients get the full server list.
 * A holds the lock, B waits; SIGKILL of the leader must not cost A its
 * session: A still holds (its node heads the line, a guarded write commits
 * through the new leader), B still waits; once A releases, B gets the lock
 * with a greater token. Never two holders. Two variants: A on a follower,
 * and A on the leader (the killed member is A's). Every member is killed on
 * exit, also on failure (atexit; PR_SET_PDEATHSIG if this process dies). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define MEMBERS 3
#define SESSION_MS 2000
#define LOCK "/cluster/lock"

static const char *coord_bin;
static char data_root[] = "/tmp/coord-c-cluster-XXXXXX";
static int have_root;
static pid_t pids[MEMBERS + 1];
static char addrs[MEMBERS + 1][64];
static char all_servers[MEMBERS * 64];

/* ------------------------------------------------------------ processes */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void stop_all(void) {
  for (int i = 1; i <= MEMBERS; i++) {
    if (pids[i] > 0) {
      kill(pids[i], SIGKILL);
      waitpid(pids[i], NULL, 0);
      pids[i] = 0;
    }
  }
  if (have_root) {
    nftw(data_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    have_root = 0;
  }
}

static void kill_member(int id) {
  CHECK(pids[id] > 0);
  CHECK(kill(pids[id], SIGKILL) == 0);
  CHECK(waitpid(pids[id], NULL, 0) == pids[id]);
  pids[id] = 0;
}

/* Peer ports are named before any member runs, so they are picked, released
 * and bound later by the members. They come from below the kernel's
 * ephemeral range: a port there is never taken as an outgoing connection's
 * source port between the pick and the member's bind (one from port 0 can
 * be). The search starts at a random port and skips ports in use. */
static void free_ports(int n, int *ports) {
  int top = 32768;
  FILE *range = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
  if (range != NULL) {
    if (fscanf(range, "%d", &top) != 1) top = 32768;
    fclose(range);
  }
  const int lowest = 10000;
  CHECK(top - lowest > 64);
  int span = top - lowest;
  int start = (int)(((unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL)) % (unsigned)span);
  int fds[MEMBERS];
  int found = 0;
  for (int i = 0; i < span && i < 4096 && found < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)(lowest + (start + i) % span))};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0) {
      fds[found] = fd;
      ports[found++] = ntohs(a.sin_port);
    } else {
      close(fd);
    }
  }
  CHECK(found == n);
  for (int i = 0; i < n; i++) close(fds[i]);
}

static void start_member(int id, int peer_port, const char *spec) {
  char data[512], log[512], idtxt[16], peer[64];
  snprintf(data, sizeof data, "%s/m%d", data_root, id);
  snprintf(log, sizeof log, "%s/m%d.log", data_root, id);
  snprintf(idtxt, sizeof idtxt, "%d", id);
  snprintf(peer, sizeof peer, "127.0.0.1:%d", peer_port);
  pid_t parent = getpid();
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test, however it ends */
    if (getppid() != parent) _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null = open("/dev/null", O_RDWR);
    if (fd < 0 || null < 0) _exit(127);
    dup2(fd, STDERR_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDIN_FILENO);
    setenv("RUST_LOG", "info,openraft=error", 0);
    execl(coord_bin, coord_bin, "serve", "--id", idtxt, "--listen", "127.0.0.1:0",
          "--peer-listen", peer, "--cluster", spec, "--data-dir", data, "--heartbeat-ms", "50",
          "--election-timeout-ms", "300", "--min-session-timeout-ms", "200", (char *)NULL);
    _exit(127);
  }
  pids[id] = pid;
}

/* Waits for "coord: serving on ADDR" in member id's log. */
static void wait_serving(int id) {
  char log[512];
  snprintf(log, sizeof log, "%s/m%d.log", data_root, id);
  double deadline = now_s() + 60;
  for (;;) {
    FILE *f = fopen(log, "r");
    char line[512];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
      if (sscanf(line, "coord: serving on %63s", addrs[id]) == 1) {
        fclose(f);
        return;
      }
    }
    if (f != NULL) fclose(f);
    if (waitpid(pids[id], NULL, WNOHANG) == pids[id]) {
      pids[id] = 0;
      fprintf(stderr, "member %d exited before serving; see %s\n", id, log);
      exit(1);
    }
    CHECK(now_s() < deadline);
    sleep_ms(20);
  }
}

static void live_servers(char *out, size_t n) {
  out[0] = '\0';
  for (int i = 1; i <= MEMBERS; i++) {
    if (pids[i] <= 0) continue;
    if (out[0] != '\0') strncat(out, ",", n - strlen(out) - 1);
    strncat(out, addrs[i], n - strlen(out) - 1);
  }
}

/* `coord --servers LIVE cluster status --json`: stdout into `out`; 1 on
 * exit status 0 within 10 s. */
static int cluster_status(char *out, size_t n) {
  char servers[MEMBERS * 64];
  live_servers(servers, sizeof servers);
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(fds[1], STDOUT_FILENO);
    if (null >= 0) dup2(null, STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(coord_bin, coord_bin, "--servers", servers, "--session-timeout-ms", "4000", "cluster",
          "status", "--json", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  size_t len = 0;
  double deadline = now_s() + 10;
  for (;;) {
    struct pollfd p = {fds[0], POLLIN, 0};
    int left = (int)((deadline - now_s()) * 1000);
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    ssize_t r = read(fds[0], out + len, n - 1 - len);
    if (r <= 0) break;
    len += (size_t)r;
    if (len == n - 1) break;
  }
  out[len] = '\0';
  close(fds[0]);
  kill(pid, SIGKILL); /* no-op once it exited */
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The leader named by cluster status, polled until it is not `exclude`. */
static int leader(int exclude, double timeout_s) {
  double deadline = now_s() + timeout_s;
  char json[4096];
  for (;;) {
    if (cluster_status(json, sizeof json)) {
      const char *l = strstr(json, "\"leader\":");
      if (l != NULL) {
        l += strlen("\"leader\":");
        while (*l == ' ') l++;
        int id = (int)strtol(l, NULL, 10); /* 0 for null */
        if (id >= 1 && id <= MEMBERS && id != exclude) return id;
      }
    }
    if (now_s() > deadline) {
      fprintf(stderr, "no leader (other than %d) within %.0f s: %s\n", exclude, timeout_s, json);
      exit(1);
    }
    sleep_ms(100);
  }
}

static void start_cluster(void) {
  CHECK(mkdtemp(data_root) != NULL);
  have_root = 1;
  int ports[MEMBERS];
  free_ports(MEMBERS, ports);
  char spec[256] = "";
  for (int i = 0; i < MEMBERS; i++) {
    char one[64];
    snprintf(one, sizeof one, "%s%d=127.0.0.1:%d", i ? "," : "", i + 1, ports[i]);
    strncat(spec, one, sizeof spec - strlen(spec) - 1);
  }
  for (int i = 1; i <= MEMBERS; i++) start_member(i, ports[i - 1], spec);
  for (int i = 1; i <= MEMBERS; i++) wait_serving(i);
  live_servers(all_servers, sizeof all_servers);
}

/* ------------------------------------- which member a client talks to */

#define MAX_SOCKS 1024

/* Inodes of this process's sockets. */
static size_t socket_inodes(unsigned long *out) {
  size_t n = 0;
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < MAX_SOCKS) {
    char path[300], target[128];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len <= 0) continue;
    target[len] = '\0';
    unsigned long inode;
    if (sscanf(target, "socket:[%lu]", &inode) == 1) out[n++] = inode;
  }
  closedir(d);
  return n;
}

static int contains(const unsigned long *set, size_t n, unsigned long v) {
  for (size_t i = 0; i < n; i++)
    if (set[i] == v) return 1;
  return 0;
}

/* The member this process's one new established TCP connection (a socket
 * not in `known`) goes to, from /proc/self/net/tcp; 0 unless exactly one. */
static int connected_member(const unsigned long *known, size_t nknown) {
  unsigned long mine[MAX_SOCKS];
  size_t nmine = socket_inodes(mine);
  int found = 0;
  FILE *f = fopen("/proc/self/net/tcp", "r");
  CHECK(f != NULL);
  char line[512];
  CHECK(fgets(line, sizeof line, f) != NULL); /* header */
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned rport, state;
    unsigned long inode;
    if (sscanf(line, " %*s %*s %*x:%x %x %*s %*s %*s %*s %*s %lu", &rport, &state, &inode) != 3)
      continue;
    if (state != 1 || !contains(mine, nmine, inode) || contains(known, nknown, inode)) continue;
    for (int i = 1; i <= MEMBERS; i++) {
      const char *colon = strrchr(addrs[i], ':');
      if (colon != NULL && (unsigned)atoi(colon + 1) == rport) {
        if (found != 0 && found != i) found = -1;
        else if (found == 0) found = i;
      }
    }
  }
  fclose(f);
  return found > 0 ? found : 0;
}

/* A client given the full list that picked the leader (or a follower, per
 * `on_leader`): the client shuffles its list, so reconnect until it lands. */
static coord_client *connect_on(int on_leader, int lead, int *member) {
  for (int i = 0; i < 40; i++) {
    unsigned long known[MAX_SOCKS];
    size_t nknown = socket_inodes(known);
    coord_client *c = NULL;
    OK(coord_connect(all_servers, SESSION_MS, &c));
    *member = connected_member(known, nknown);
    if (*member != 0 && (*member == lead) == on_leader) return c;
    coord_client_free(c);
  }
  fprintf(stderr, "the client never picked the wanted member in 40 connects\n");
  exit(1);
}

/* ------------------------------------------------------------ the test */

static coord_lock *lock_a, *lock_b;
static atomic_int b_done, stop_sampler, overlaps;
static coord_result b_rc;
static uint64_t b_token;
static int a_held_when_b_got;

static int held(const coord_lock *l) {
  bool h = false;
  OK(coord_lock_is_held(l, &h));
  return h;
}

static void *b_waits(void *arg) {
  (void)arg;
  b_rc = coord_lock_acquire(lock_b, 30000, NULL, &b_token);
  a_held_when_b_got = held(lock_a);
  atomic_store(&b_done, 1);
  return NULL;
}

static void *sample_holders(void *arg) {
  (void)arg;
  while (!atomic_load(&stop_sampler)) {
    if (held(lock_a) && held(lock_b)) atomic_fetch_add(&overlaps, 1);
    sleep_ms(2);
  }
  return NULL;
}

/* The lock's line, sorted by sequence (names are OWNER__lock__SEQ, SEQ the
 * last ten digits). */
static const char *seq_of(const char *name) {
  size_t n = strlen(name);
  return n >= 10 ? name + n - 10 : name;
}

static int by_seq(const void *x, const void *y) {
  return strcmp(seq_of(*(char *const *)x), seq_of(*(char *const *)y));
}

static void stat_of(coord_client *c, const char *name, coord_stat *st) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", LOCK, name);
  bool exists = false;
  OK(coord_exists(c, path, &exists, st));
  CHECK(exists);
}

static void run_variant(int a_on_leader) {
  start_cluster();
  int lead = leader(0, 30);
  int a_member = 0;
  coord_client *a = connect_on(a_on_leader, lead, &a_member);
  coord_client *b = NULL, *observer = NULL;
  OK(coord_connect(all_servers, SESSION_MS, &b));
  OK(coord_connect(all_servers, SESSION_MS, &observer));
  uint64_t a_session = 0, b_session = 0, s = 0;
  OK(coord_client_session_id(a, &a_session));
  OK(coord_client_session_id(b, &b_session));

  OK(coord_lock_new(a, LOCK, &lock_a));
  OK(coord_lock_new(b, LOCK, &lock_b));
  uint64_t token_a = 0;
  OK(coord_lock_acquire(lock_a, 10000, NULL, &token_a));
  atomic_store(&b_done, 0);
  atomic_store(&stop_sampler, 0);
  atomic_store(&overlaps, 0);
  pthread_t waiter, sampler;
  CHECK(pthread_create(&waiter, NULL, b_waits, NULL) == 0);
  CHECK(pthread_create(&sampler, NULL, sample_holders, NULL) == 0);
  char **names = NULL;
  size_t n = 0;
  for (double deadline = now_s() + 10;; sleep_ms(20)) {
    OK(coord_children(observer, LOCK, &names, &n));
    coord_free_string_array(names, n);
    if (n == 2) break;
    CHECK(now_s() < deadline); /* B waits in line within 10 s */
  }
  CHECK(!atomic_load(&b_done));

  double killed_at = now_s();
  kill_member(lead);
  int new_lead = leader(lead, 15);
  /* A reconnected: a sync through its session succeeds. */
  for (double deadline = now_s() + 10; coord_sync(a, LOCK) != COORD_RESULT_OK; sleep_ms(20))
    CHECK(now_s() < deadline);
  /* Past the session timeout twice over: a session the new leader did not
   * keep alive would have expired by now. */
  double wait_until = killed_at + 2 * SESSION_MS / 1000.0 + 0.5;
  if (now_s() < wait_until) sleep_ms((long)((wait_until - now_s()) * 1000));

  OK(coord_client_session_id(a, &s));
  CHECK(s == a_session); /* A's session survived */
  CHECK(held(lock_a));   /* A still holds the lock */
  uint64_t t = 0;
  OK(coord_lock_token(lock_a, &t));
  CHECK(t == token_a);
  CHECK(!atomic_load(&b_done)); /* B has not acquired */
  CHECK(!held(lock_b));
  OK(coord_sync(observer, LOCK));
  OK(coord_children(observer, LOCK, &names, &n));
  CHECK(n == 2);
  qsort(names, n, sizeof *names, by_seq);
  coord_stat head, second;
  stat_of(observer, names[0], &head);
  stat_of(observer, names[1], &second);
  coord_free_string_array(names, n);
  CHECK(head.czxid == token_a); /* A's node heads the line */
  CHECK(head.ephemeral_owner == a_session);
  CHECK(second.ephemeral_owner == b_session);
  /* The server agrees A holds: a guarded write commits through the new leader. */
  coord_op op = {.kind = COORD_OP_CREATE,
                 .path = "/cluster/written-under-a-after-failover",
                 .mode = COORD_CREATE_PERSISTENT,
                 .version = -1};
  coord_op_result *results = NULL;
  OK(coord_lock_guarded(lock_a, &op, 1, &results));
  coord_free_op_results(results, 1);

  OK(coord_lock_release(lock_a));
  for (double deadline = now_s() + 15; !atomic_load(&b_done); sleep_ms(10))
    CHECK(now_s() < deadline); /* B gets the lock within 15 s of A's release */
  pthread_join(waiter, NULL);
  OK(b_rc);
  CHECK(!a_held_when_b_got);
  CHECK(b_token > token_a); /* token order kept */
  OK(coord_sync(observer, LOCK));
  OK(coord_children(observer, LOCK, &names, &n));
  CHECK(n == 1);
  stat_of(observer, names[0], &head);
  coord_free_string_array(names, n);
  CHECK(head.czxid == b_token);
  OK(coord_lock_release(lock_b));
  atomic_store(&stop_sampler, 1);
  pthread_join(sampler, NULL);
  CHECK(atomic_load(&overlaps) == 0); /* never two holders */

  printf("test_cluster_lock: A on member %d (leader %d, %s); new leader %d; tokens %" PRIu64
         " < %" PRIu64 "; B waited %.1f s past the kill\n",
         a_member, lead, a_on_leader ? "A's member killed" : "A on a follower", new_lead, token_a,
         b_token, now_s() - killed_at);
  coord_lock_free(lock_a);
  coord_lock_free(lock_b);
  lock_a = lock_b = NULL;
  coord_client_free(a);
  coord_client_free(b);
  coord_client_free(observer);
  stop_all();
  strcpy(data_root, "/tmp/coord-c-cluster-XXXXXX");
}

int main(void) {
  coord_bin = getenv("COORD_BIN");
  if (coord_bin == NULL || *coord_bin == '\0') {
    fprintf(stderr, "COORD_BIN (the coord binary) is not set\n");
    return 2;
  }
  atexit(stop_all);
  double t0 = now_s();
  run_variant(0);
  run_variant(1);
  printf("test_cluster_lock: passed in %.1f s\n", now_s() - t0);
  return 0;
}
