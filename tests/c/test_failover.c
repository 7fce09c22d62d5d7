/* Two processes contend for leadership; SIGKILL of the leader elects the
 * other within the session timeout + 1 s. The driver (no arguments) runs
 * itself twice as `candidate NAME` and never touches libcoord itself. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define SESSION_MS 1000

static int candidate(const char *name) {
  coord_client *c = NULL;
  coord_election *e = NULL;
  uint64_t token = 0;
  OK(coord_connect(test_servers(), SESSION_MS, &c));
  OK(coord_election_new(c, "/failover", (const uint8_t *)name, strlen(name), &e));
  printf("CAMPAIGNING %s\n", name);
  fflush(stdout);
  OK(coord_election_campaign(e, 60000, NULL, &token));
  printf("LEADER %s %" PRIu64 "\n", name, token);
  fflush(stdout);
  sleep_ms(30000); /* the driver kills us long before */
  coord_election_free(e);
  coord_client_free(c);
  return 0;
}

typedef struct {
  pid_t pid;
  FILE *out;
} child;

static const char *self_path;

static child spawn(const char *name) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(self_path, self_path, "candidate", name, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  child ch = {pid, fdopen(fds[0], "r")};
  CHECK(ch.out != NULL);
  setvbuf(ch.out, NULL, _IONBF, 0); /* poll() must see every unread byte */
  return ch;
}

/* Reads one line within `ms`; returns 0 on timeout. */
static int read_line(child *ch, char *buf, size_t n, int ms) {
  struct pollfd p = {fileno(ch->out), POLLIN, 0};
  if (poll(&p, 1, ms) <= 0) return 0;
  return fgets(buf, (int)n, ch->out) != NULL;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "candidate") == 0) return candidate(argv[2]);
  self_path = argv[0]; /* not /proc/self/exe: under valgrind that is the tool */
  char line[128];
  child a = spawn("A");
  CHECK(read_line(&a, line, sizeof line, 20000) && strncmp(line, "CAMPAIGNING A", 13) == 0);
  CHECK(read_line(&a, line, sizeof line, 20000) && strncmp(line, "LEADER A", 8) == 0);
  unsigned long long token_a = strtoull(line + 9, NULL, 10);
  child b = spawn("B");
  CHECK(read_line(&b, line, sizeof line, 20000) && strncmp(line, "CAMPAIGNING B", 13) == 0);
  sleep_ms(500); /* let B join the line behind A */
  CHECK(!read_line(&b, line, sizeof line, 0)); /* B does not lead while A lives */
  double t0 = now_s();
  CHECK(kill(a.pid, SIGKILL) == 0);
  int got = read_line(&b, line, sizeof line, SESSION_MS + 1000);
  double elapsed = now_s() - t0;
  CHECK(got && strncmp(line, "LEADER B", 8) == 0);
  unsigned long long token_b = strtoull(line + 9, NULL, 10);
  CHECK(token_b > token_a);
  printf("test_failover: B elected %.2f s after SIGKILL of A (limit %.1f s)\n", elapsed,
         SESSION_MS / 1000.0 + 1.0);
  CHECK(elapsed <= SESSION_MS / 1000.0 + 1.0);
  kill(b.pid, SIGKILL);
  waitpid(a.pid, NULL, 0);
  waitpid(b.pid, NULL, 0);
  fclose(a.out);
  fclose(b.out);
  return 0;
}
