/*
 * Caesar cipher: encrypts standard input to standard output, or decrypts with -d.
 * Compile: gcc -std=c11 -Wall -O2 -o caesar caesar.c
 *
 * A reference solution. SHIFT is filled in from the student's variant exactly like the starter
 * file (render it with the variant's parameters before handing it in).
 */
#include <stdio.h>
#include <string.h>

/* Your personal shift: do not change it. */
#define SHIFT {{ shift }}

static int rotate(int c, int by)
{
    if (c >= 'a' && c <= 'z') return 'a' + (c - 'a' + by) % 26;
    if (c >= 'A' && c <= 'Z') return 'A' + (c - 'A' + by) % 26;
    return c;
}

int main(int argc, char *argv[])
{
    int decrypt = argc > 1 && strcmp(argv[1], "-d") == 0;
    int by = decrypt ? 26 - SHIFT % 26 : SHIFT % 26;
    int c;

    while ((c = getchar()) != EOF) putchar(rotate(c, by));
    return 0;
}
