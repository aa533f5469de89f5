/*
 * cli.h — kopilka's subcommands. Each takes argc/argv after the subcommand
 * name and returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef KP_CLI_CLI_H
#define KP_CLI_CLI_H

int kp_cmd_serve(int argc, char **argv);
int kp_cmd_init(int argc, char **argv);
int kp_cmd_verify(int argc, char **argv);
int kp_cmd_jobs(int argc, char **argv);
int kp_cmd_report(int argc, char **argv); /* cli/report.c */
int kp_cmd_import(int argc, char **argv);
int kp_cmd_backup(int argc, char **argv);

/* Read a whole file (at most max bytes) into a malloc'ed NUL-terminated buffer. */
char *kp_read_file(const char *path, size_t max, size_t *len);

#endif
