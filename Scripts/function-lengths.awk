# Reports Swift functions (func, init, deinit, subscript, closures excluded) whose bodies are longer
# than `limit` lines. Braces inside string literals and comments are ignored; good enough for this
# codebase's style (one declaration per line).
function strip(line,    out, i, c, n, inString) {
  out = ""; inString = 0; n = length(line)
  for (i = 1; i <= n; i++) {
    c = substr(line, i, 1)
    if (!inString && substr(line, i, 2) == "//") break
    if (c == "\\" && inString) { i++; continue }
    if (c == "\"") { inString = !inString; continue }
    if (!inString) out = out c
  }
  return out
}
BEGIN { if (limit == "") limit = 60; depth = 0; top = 0; failures = 0 }
FNR == 1 { depth = 0; top = 0; inBlock = 0 }
{
  line = $0
  if (line ~ /"""/) { inBlock = !inBlock; next }
  if (inBlock) next
  code = strip(line)
  if (code ~ /(^|[^A-Za-z0-9_.])(func|init|deinit|subscript)([^A-Za-z0-9_]|$)/ && code ~ /\{/) {
    top++; startDepth[top] = depth; startLine[top] = FNR; name[top] = code
  }
  opens = gsub(/\{/, "{", code); closes = gsub(/\}/, "}", code)
  depth += opens - closes
  while (top > 0 && depth <= startDepth[top]) {
    length_ = FNR - startLine[top] + 1
    if (length_ > limit) {
      sub(/^[ \t]+/, "", name[top]); sub(/\{.*/, "", name[top])
      printf "%s:%d: function is %d lines (limit %d): %s\n", FILENAME, startLine[top], length_, limit, name[top]
      failures++
    }
    top--
  }
}
END { exit failures > 0 ? 1 : 0 }
