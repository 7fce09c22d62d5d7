#include <coord.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>
#define TRY(call) if ((call) != COORD_RESULT_OK) return fprintf(stderr, "%s: %s\n", #call, coord_last_error_message()), 1
static atomic_int seen;
static void on_change(void *userdata, const coord_watch_event *e) { (void)userdata; printf("changed: %s\n", e->path); seen = 1; }
int main(int argc, char **argv) {
  coord_client *c; coord_lock *lock; coord_election *election; coord_watch *watch; uint64_t token; bool exists;
  TRY(coord_connect(argc > 1 ? argv[1] : NULL, 0, &c));
  TRY(coord_lock_new(c, "/demo/lock", &lock)); TRY(coord_lock_acquire(lock, 5000, NULL, &token));
  printf("locked, token %llu\n", (unsigned long long)token); TRY(coord_lock_release(lock)); coord_lock_free(lock);
  TRY(coord_election_new(c, "/demo/election", (const uint8_t *)"me", 2, &election));
  TRY(coord_election_campaign(election, 5000, NULL, &token)); printf("leader, term %llu\n", (unsigned long long)token);
  TRY(coord_exists_watch(c, "/demo/config", on_change, NULL, &exists, NULL, &watch));
  TRY(coord_create(c, "/demo/config", (const uint8_t *)"v1", 2, COORD_CREATE_EPHEMERAL, 0, NULL, NULL));
  for (int i = 0; i < 100 && !seen; i++) usleep(50000);
  coord_watch_free(watch); coord_election_free(election); coord_client_free(c); return seen ? 0 : 1;
}
