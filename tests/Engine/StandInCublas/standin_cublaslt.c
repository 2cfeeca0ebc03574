int fake_lt_marker(void) { return 0; }
