/* Leader election with failover.
 *
 *   cc election.c $(pkg-config --cflags --libs coord) -o election
 *   ./election NAME LEAD_MS [servers]
 *
 * Campaigns at /examples/election with identity NAME. Once elected it
 * "works" for LEAD_MS milliseconds and then resigns (or, if killed, its
 * session expires): the next candidate in line takes over. A lost
 * callback reports if the term ends early (session expiry). Run two at once
 * to see the failover. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"

static atomic_int lost;

/* Runs on the library's callback thread. */
static void on_lost(void *userdata) {
  fprintf(stderr, "%s: leadership lost\n", (const char *)userdata);
  atomic_store(&lost, 1);
}

static int fail(const char *what, coord_result rc) {
  fprintf(stderr, "%s: %s (%s)\n", what, coord_result_message(rc), coord_last_error_message());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s NAME LEAD_MS [servers]\n", argv[0]);
    return 2;
  }
  const char *name = argv[1];
  long lead_ms = strtol(argv[2], NULL, 10);
  coord_client *client = NULL;
  coord_election *election = NULL;
  coord_result rc = coord_connect(argc > 3 ? argv[3] : NULL, 2000, &client);
  if (rc != COORD_RESULT_OK) return fail("connect", rc);
  rc = coord_election_new(client, "/examples/election", (const uint8_t *)name, strlen(name),
                          &election);
  if (rc != COORD_RESULT_OK) return fail("election_new", rc);
  coord_election_on_lost(election, on_lost, (void *)name);

  uint64_t token = 0;
  if ((rc = coord_election_campaign(election, 30000, NULL, &token)) != COORD_RESULT_OK)
    return fail("campaign", rc);
  coord_leader *leader = NULL;
  if ((rc = coord_election_leader(client, "/examples/election", &leader)) != COORD_RESULT_OK)
    return fail("leader", rc);
  printf("%s leads (token %" PRIu64 ", current leader %.*s)\n", name, token,
         leader ? (int)leader->identity_len : 0, leader ? (const char *)leader->identity : "");
  fflush(stdout);
  coord_leader_free(leader);

  /* Work while leading, checking for an early loss. */
  for (long waited = 0; waited < lead_ms && !atomic_load(&lost); waited += 50) {
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
  coord_election_resign(election);
  printf("%s resigned\n", name);
  coord_election_free(election);
  coord_client_free(client);
  return 0;
}
