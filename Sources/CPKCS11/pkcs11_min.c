/* The PKCS#11 declarations are in include/pkcs11_min.h; this target compiles no code of its own. */
