# embed.cmake - writes the file IN as a C array into OUT, so report.html's
# template is part of the tqbench binary (report_html.c) and `tqbench
# report` needs no data file. Run at build time: cmake -DIN=.. -DOUT=.. -DNAME=.. -P
file(READ ${IN} _hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
file(WRITE ${OUT}
     "/* generated from ${IN} by embed.cmake: do not edit */\n"
     "#include <stddef.h>\n"
     "const char ${NAME}[] = {${_bytes} 0};\n"
     "const size_t ${NAME}_len = sizeof ${NAME} - 1;\n")
