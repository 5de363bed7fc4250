/*
 * talkie-probe: a resident prober for uploads, built against the system's libavformat.
 *
 * Why it exists: starting Debian's ffprobe costs 50-80 ms before it reads a byte (it maps ~215
 * shared libraries), more than everything else the gateway does for an upload. This process loads
 * libavformat once and forks a fresh child per request, so each probe still runs in its own
 * throw-away address space (a file that corrupts the demuxer's memory cannot touch the next
 * probe), under its own timer, with the same demuxer and protocol allow-lists ffprobe is given.
 *
 * Protocol (all lines; the Node side is packages/media/src/resident-prober.ts):
 *   start-up, stdout:  {"ready":true,"ffmpeg":"<av_version_info>","lavf":"<LIBAVFORMAT_IDENT>"}
 *   request, stdin:    <id> <timeout_ms> <path>
 *   answer, stdout:    {"id":<id>,"format_name":...,"duration":...,"streams":N,"video_streams":N,"video":{...}}
 *                   or {"id":<id>,"error":"invalid_media"|"timeout"|"crashed"|"busy","detail":"..."}
 * "busy" is this process's own failure (no child could be started), never the file's: the caller
 * probes that file another way.
 * Answers come in completion order. Each is written with one write() of at most PIPE_BUF bytes,
 * so lines from concurrent children never interleave. stdio is never used for stdout: a fork with
 * unflushed buffers would print them twice.
 *
 * Usage: talkie-probe --formats mov,matroska,webm,avi [--max-children 32]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/dict.h>

#define LINE_MAX_BYTES 4096
#define ANSWER_MAX_BYTES 1024 /* well under PIPE_BUF (4096 on Linux) */
#define CHILDREN_HARD_MAX 256

struct child {
  pid_t pid;
  unsigned long long id;
};

static struct child children[CHILDREN_HARD_MAX];
static int max_children = 32;
static int running = 0;
static int sigchld_pipe[2] = {-1, -1};
static const char *formats = "mov,matroska,webm,avi";

/* --- output ------------------------------------------------------------------------------ */

struct buf {
  char data[ANSWER_MAX_BYTES];
  size_t len;
  int overflow;
};

static void put(struct buf *b, const char *fmt, ...) {
  va_list ap;
  if (b->overflow) return;
  va_start(ap, fmt);
  int n = vsnprintf(b->data + b->len, sizeof b->data - b->len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof b->data - b->len) b->overflow = 1;
  else b->len += (size_t)n;
}

/* A JSON string of library-provided text (format and codec names): printable ASCII only, capped. */
static void put_string(struct buf *b, const char *s) {
  put(b, "\"");
  for (size_t i = 0; s && s[i] && i < 128; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') put(b, "\\%c", c);
    else if (c >= 0x20 && c < 0x7f) put(b, "%c", c);
    else put(b, "?");
  }
  put(b, "\"");
}

/* One atomic line on stdout. A reader that has gone away ends this process (and the children). */
static void emit(struct buf *b) {
  if (b->overflow) {
    b->len = 0;
    b->overflow = 0;
    put(b, "{\"error\":\"crashed\",\"detail\":\"answer too long\"}");
  }
  put(b, "\n");
  size_t off = 0;
  while (off < b->len) {
    ssize_t n = write(STDOUT_FILENO, b->data + off, b->len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(3);
    }
    off += (size_t)n;
  }
}

static void emit_error(unsigned long long id, const char *code, const char *detail) {
  struct buf b = {.len = 0, .overflow = 0};
  put(&b, "{\"id\":%llu,\"error\":", id);
  put_string(&b, code);
  put(&b, ",\"detail\":");
  put_string(&b, detail);
  put(&b, "}");
  emit(&b);
}

/* --- the probe, in a child ------------------------------------------------------------------ */

static void put_rational(struct buf *b, const char *key, AVRational r) {
  put(b, ",\"%s\":\"%d/%d\"", key, r.num, r.den);
}

/*
 * Mirrors what `ffprobe -show_format -show_streams` prints for the fields Talkie reads (see
 * probe.ts): the same open and find_stream_info calls, durations printed with %f as ffprobe does.
 */
static int probe(unsigned long long id, const char *path) {
  AVFormatContext *ctx = NULL;
  AVDictionary *opts = NULL;
  av_dict_set(&opts, "format_whitelist", formats, 0);
  av_dict_set(&opts, "protocol_whitelist", "file", 0);
  int err = avformat_open_input(&ctx, path, NULL, &opts);
  av_dict_free(&opts);
  if (err < 0) {
    emit_error(id, "invalid_media", "open");
    return 0;
  }
  err = avformat_find_stream_info(ctx, NULL);
  if (err < 0) {
    emit_error(id, "invalid_media", "stream_info");
    return 0;
  }

  struct buf b = {.len = 0, .overflow = 0};
  put(&b, "{\"id\":%llu,\"format_name\":", id);
  put_string(&b, ctx->iformat ? ctx->iformat->name : "unknown");
  if (ctx->duration != AV_NOPTS_VALUE) put(&b, ",\"duration\":\"%f\"", ctx->duration * av_q2d(AV_TIME_BASE_Q));
  unsigned videos = 0;
  const AVStream *video = NULL;
  for (unsigned i = 0; i < ctx->nb_streams; i++) {
    if (ctx->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
      if (!video) video = ctx->streams[i];
      videos++;
    }
  }
  put(&b, ",\"streams\":%u,\"video_streams\":%u", ctx->nb_streams, videos);
  if (video) {
    const AVCodecParameters *par = video->codecpar;
    const AVCodecDescriptor *cd = avcodec_descriptor_get(par->codec_id);
    put(&b, ",\"video\":{\"codec_name\":");
    put_string(&b, cd ? cd->name : "unknown");
    put(&b, ",\"width\":%d,\"height\":%d", par->width, par->height);
    put_rational(&b, "avg_frame_rate", video->avg_frame_rate);
    put_rational(&b, "r_frame_rate", video->r_frame_rate);
    if (video->duration != AV_NOPTS_VALUE) put(&b, ",\"duration\":\"%f\"", video->duration * av_q2d(video->time_base));
    if (video->nb_frames) put(&b, ",\"nb_frames\":\"%" PRId64 "\"", video->nb_frames);
    put(&b, "}");
  }
  put(&b, "}");
  emit(&b);
  avformat_close_input(&ctx);
  return 0;
}

/* --- the resident parent ---------------------------------------------------------------------- */

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  char c = 1;
  if (write(sigchld_pipe[1], &c, 1) < 0) { /* the pipe is full: a wake-up is already pending */ }
  errno = saved;
}

static void start_child(unsigned long long id, unsigned timeout_ms, const char *path) {
  pid_t pid = fork();
  if (pid < 0) {
    emit_error(id, "busy", "fork");
    return;
  }
  if (pid == 0) {
    signal(SIGCHLD, SIG_DFL);
    signal(SIGALRM, SIG_DFL);
    close(sigchld_pipe[0]);
    close(sigchld_pipe[1]);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The wall-clock limit: SIGALRM's default action ends the child; the parent reports it. */
    struct itimerval limit = {{0, 0}, {timeout_ms / 1000, (timeout_ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &limit, NULL);
    _exit(probe(id, path));
  }
  for (int i = 0; i < CHILDREN_HARD_MAX; i++) {
    if (children[i].pid == 0) {
      children[i].pid = pid;
      children[i].id = id;
      running++;
      return;
    }
  }
}

/* Reaps finished children; answers for those that died before answering themselves. */
static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < CHILDREN_HARD_MAX; i++) {
      if (children[i].pid != pid) continue;
      children[i].pid = 0;
      running--;
      if (WIFSIGNALED(status)) {
        if (WTERMSIG(status) == SIGALRM) emit_error(children[i].id, "timeout", "probe time limit");
        else {
          char detail[32];
          snprintf(detail, sizeof detail, "signal %d", WTERMSIG(status));
          emit_error(children[i].id, "crashed", detail);
        }
      } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        emit_error(children[i].id, "crashed", "exit status");
      }
      break;
    }
  }
}

/* "<id> <timeout_ms> <path>"; anything else is answered with an error for id 0 and skipped. */
static void handle_line(char *line) {
  char *end;
  errno = 0;
  unsigned long long id = strtoull(line, &end, 10);
  if (errno || end == line || *end != ' ') {
    emit_error(0, "crashed", "malformed request");
    return;
  }
  char *rest = end + 1;
  unsigned long ms = strtoul(rest, &end, 10);
  if (end == rest || *end != ' ' || ms == 0 || ms > 3600000UL || end[1] == '\0') {
    emit_error(id, "crashed", "malformed request");
    return;
  }
  start_child(id, (unsigned)ms, end + 1);
}

/* Requests read but not yet started: they wait here while max_children probes run. */
static char in[LINE_MAX_BYTES * 2];
static size_t have = 0;

static void start_waiting(void) {
  char *start = in;
  char *nl;
  while (running < max_children && (nl = memchr(start, '\n', have - (size_t)(start - in))) != NULL) {
    *nl = '\0';
    handle_line(start);
    start = nl + 1;
  }
  have -= (size_t)(start - in);
  memmove(in, start, have);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--formats") && i + 1 < argc) formats = argv[++i];
    else if (!strcmp(argv[i], "--max-children") && i + 1 < argc) {
      max_children = atoi(argv[++i]);
      if (max_children < 1 || max_children > CHILDREN_HARD_MAX) max_children = 32;
    } else if (!strcmp(argv[i], "--version")) {
      printf("%s %s\n", av_version_info(), LIBAVFORMAT_IDENT);
      return 0;
    } else {
      fprintf(stderr, "usage: talkie-probe --formats mov,matroska,webm,avi [--max-children N] | --version\n");
      return 2;
    }
  }
  /* Ends with whoever started it; never outlives the gateway or worker. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 1;
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  av_log_set_level(AV_LOG_QUIET);
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(sigchld_pipe, O_NONBLOCK | O_CLOEXEC) < 0) return 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);

  struct buf ready = {.len = 0, .overflow = 0};
  put(&ready, "{\"ready\":true,\"ffmpeg\":");
  put_string(&ready, av_version_info());
  put(&ready, ",\"lavf\":");
  put_string(&ready, LIBAVFORMAT_IDENT);
  put(&ready, "}");
  emit(&ready);

  int eof = 0;
  while (!eof || running > 0) {
    struct pollfd fds[2] = {{sigchld_pipe[0], POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    /* At the child limit, requests wait (in the buffer, then in the pipe) until a child ends. */
    nfds_t n = (!eof && running < max_children) ? 2 : 1;
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[0].revents) {
      char drain[64];
      while (read(sigchld_pipe[0], drain, sizeof drain) > 0) {}
      reap();
      start_waiting();
    }
    if (n == 2 && fds[1].revents) {
      ssize_t r = read(STDIN_FILENO, in + have, sizeof in - have);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        eof = 1;
        continue;
      }
      have += (size_t)r;
      start_waiting();
      if (have == sizeof in && !memchr(in, '\n', have)) {
        /* a line longer than any path the services send: drop it */
        emit_error(0, "crashed", "request too long");
        have = 0;
      }
    }
  }
  return 0;
}
