/*
 * Caesar cipher with two classic mistakes: no wrap-around past 'z', and uppercase letters are
 * left alone. Kept to check that the tests fail it. SHIFT is templated like the starter file.
 */
#include <stdio.h>
#include <string.h>

#define SHIFT {{ shift }}

int main(int argc, char *argv[])
{
    int decrypt = argc > 1 && strcmp(argv[1], "-d") == 0;
    int c;

    while ((c = getchar()) != EOF) {
        if (c >= 'a' && c <= 'z') c = decrypt ? c - SHIFT : c + SHIFT;
        putchar(c);
    }
    return 0;
}
