/* gai: resolve names with getaddrinfo(3) the way an application does, and print
 * what came back. Built twice by the lab: with gcc (glibc) and with
 * `musl-gcc -static` (musl, as in an Alpine image).
 *
 * usage: gai NAME...   (AF_UNSPEC, SOCK_STREAM: A and AAAA are both asked)
 * Prints one line per name: NAME ok ADDR... | NAME error MESSAGE, and the seconds
 * it took. Exits 0 if every name resolved, 1 otherwise.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        double t0 = now();
        int rc = getaddrinfo(argv[i], NULL, &hints, &res);
        double took = now() - t0;
        if (rc != 0) {
            printf("%s error %s %.3fs\n", argv[i], gai_strerror(rc), took);
            failed = 1;
            continue;
        }
        printf("%s ok", argv[i]);
        for (struct addrinfo *a = res; a; a = a->ai_next) {
            char buf[INET6_ADDRSTRLEN] = "?";
            void *p = a->ai_family == AF_INET
                          ? (void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                          : (void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
            inet_ntop(a->ai_family, p, buf, sizeof buf);
            printf(" %s", buf);
        }
        printf(" %.3fs\n", took);
        freeaddrinfo(res);
    }
    return failed;
}
