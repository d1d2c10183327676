/*
 * Caesar cipher: encrypts standard input to standard output, or decrypts with -d.
 * Compile: gcc -std=c11 -Wall -O2 -o caesar caesar.c
 */
#include <stdio.h>
#include <string.h>

/* Your personal shift: do not change it. */
#define SHIFT {{ shift }}

int main(int argc, char *argv[])
{
    int decrypt = argc > 1 && strcmp(argv[1], "-d") == 0;
    int c;

    while ((c = getchar()) != EOF) {
        /* Your code here: rotate letters by SHIFT (backwards when decrypt is set). */
        (void)decrypt;
        putchar(c);
    }
    return 0;
}
