/* Performance floor for secretfill: read the whole file into memory and run
 * libyaml's event parser over it (yaml_parser_set_input_string +
 * yaml_parser_parse loop), counting scalars and deleting each event.
 * Prints the scalar count.  Build: cc -O2 floor.c -lyaml -o floor */
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    size_t cap = 1 << 16, len = 0, n;
    unsigned char *buf = malloc(cap);
    if (!buf) { perror("malloc"); return 2; }
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) { perror("realloc"); return 2; }
            buf = nb;
        }
    }
    if (ferror(f)) { perror(argv[1]); return 2; }
    fclose(f);

    yaml_parser_t parser;
    yaml_event_t event;
    if (!yaml_parser_initialize(&parser)) { fprintf(stderr, "init failed\n"); return 2; }
    yaml_parser_set_input_string(&parser, buf, len);
    unsigned long scalars = 0;
    for (;;) {
        if (!yaml_parser_parse(&parser, &event)) {
            fprintf(stderr, "%s:%lu:%lu: %s\n", argv[1],
                    (unsigned long)parser.problem_mark.line + 1,
                    (unsigned long)parser.problem_mark.column + 1,
                    parser.problem ? parser.problem : "parse error");
            yaml_parser_delete(&parser);
            return 1;
        }
        yaml_event_type_t type = event.type;
        if (type == YAML_SCALAR_EVENT) scalars++;
        yaml_event_delete(&event);
        if (type == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&parser);
    free(buf);
    printf("%lu\n", scalars);
    return 0;
}
