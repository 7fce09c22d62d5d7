/* The ABI check at connect: a program compiled against a coord.h whose
 * COORD_ABI_VERSION differs from the loaded library's fails to connect
 * with COORD_RESULT_ABI_MISMATCH and a message naming both versions.
 * Build it twice: as is (the matching header, connects), and with
 * -DTEST_ABI_OVERRIDE=N, which redefines COORD_ABI_VERSION after the
 * include as a program built against another header would see it.
 * Runs against the server in COORD_TEST_SERVERS. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#ifdef TEST_ABI_OVERRIDE
#undef COORD_ABI_VERSION
#define COORD_ABI_VERSION TEST_ABI_OVERRIDE
#endif

static void expect_mismatch_message(void) {
  char want_prog[64], want_lib[64];
  snprintf(want_prog, sizeof want_prog, "COORD_ABI_VERSION %u", (unsigned)COORD_ABI_VERSION);
  snprintf(want_lib, sizeof want_lib, "ABI version %u", (unsigned)coord_abi_version());
  const char *msg = coord_last_error_message();
  if (strstr(msg, want_prog) == NULL || strstr(msg, want_lib) == NULL) {
    fprintf(stderr, "mismatch message lacks '%s' or '%s': %s\n", want_prog, want_lib, msg);
    exit(1);
  }
}

int main(void) {
  coord_client *c = NULL;
  struct coord_connect_options o = {.struct_size = sizeof o, .servers = test_servers()};
  if (COORD_ABI_VERSION != coord_abi_version()) {
    EXPECT_RC(COORD_RESULT_ABI_MISMATCH, coord_connect(test_servers(), 0, &c));
    CHECK(c == NULL);
    expect_mismatch_message();
    EXPECT_RC(COORD_RESULT_ABI_MISMATCH, coord_connect_opts(&o, &c));
    CHECK(c == NULL);
    expect_mismatch_message();
    CHECK(strcmp(coord_result_name(COORD_RESULT_ABI_MISMATCH), "ABI_MISMATCH") == 0);
    printf("test_abi: header ABI %u vs library ABI %u refused at connect\n",
           (unsigned)COORD_ABI_VERSION, (unsigned)coord_abi_version());
    return 0;
  }
  OK(coord_connect(test_servers(), 0, &c));
  coord_client_free(c);
  c = NULL;
  OK(coord_connect_opts(&o, &c));
  coord_client_free(c);
  /* The raw entry points check the value they are given. */
  c = NULL;
  EXPECT_RC(COORD_RESULT_ABI_MISMATCH, coord_connect_abi(COORD_ABI_VERSION + 1, test_servers(), 0, &c));
  CHECK(c == NULL);
  printf("test_abi: matching header connects, a wrong value is refused\n");
  return 0;
}
