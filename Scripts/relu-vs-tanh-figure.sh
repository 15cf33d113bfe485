#!/usr/bin/env bash
# The figure of Scripts/relu-vs-tanh.sh on standard output: training error against epochs of
# two runs in one SVG (text as SVG text), ReLU solid and tanh dashed as in the paper's figure 1,
# with the target error as a dotted line.
#
#   Scripts/relu-vs-tanh-figure.sh RELU_HISTORY.csv TANH_HISTORY.csv RELU_LR TANH_LR TARGET
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 relu-history.csv tanh-history.csv relu-lr tanh-lr target" >&2
  exit 2; }
for file in "$1" "$2"; do
  head -n 1 "$file" | grep -q accuracy \
    || { echo "$file: expected a history.csv with an accuracy column" >&2; exit 1; }
done

awk -F, -v relu_lr="$3" -v tanh_lr="$4" -v target="$5" '
  FNR == 1 { run++; for (i = 1; i <= NF; i++) if ($i == "accuracy") column = i; next }
  { n[run]++; error[run, n[run]] = 1 - $column; if (n[run] > epochs) epochs = n[run] }
  END {
    width = 640; height = 420; left = 70; right = 20; top = 50; bottom = 60
    plotW = width - left - right; plotH = height - top - bottom
    xStep = epochs <= 10 ? 1 : epochs <= 20 ? 2 : epochs <= 50 ? 5 : 10
    xMax = xStep * int((epochs + xStep - 1) / xStep)
    print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" width "\" height=\"" height "\"" \
      " viewBox=\"0 0 " width " " height "\" font-family=\"sans-serif\" font-size=\"12\">"
    print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    print "<text x=\"" width / 2 "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" \
      "cifar4 on CIFAR-10: training error, ReLU against tanh</text>"
    for (i = 0; i <= 10; i++) {                       # y: 0 to 100%, a line every 10%
      y = top + plotH - i / 10 * plotH
      print "<line x1=\"" left "\" x2=\"" left + plotW "\" y1=\"" y "\" y2=\"" y "\"" \
        " stroke=\"#ddd\"/>"
      print "<text x=\"" left - 6 "\" y=\"" y + 4 "\" text-anchor=\"end\">" i * 10 "%</text>"
    }
    for (e = 0; e <= xMax; e += xStep) {
      x = left + e / xMax * plotW
      print "<line x1=\"" x "\" x2=\"" x "\" y1=\"" top "\" y2=\"" top + plotH "\"" \
        " stroke=\"#ddd\"/>"
      print "<text x=\"" x "\" y=\"" top + plotH + 18 "\" text-anchor=\"middle\">" e "</text>"
    }
    print "<rect x=\"" left "\" y=\"" top "\" width=\"" plotW "\" height=\"" plotH "\"" \
      " fill=\"none\" stroke=\"black\"/>"
    print "<text x=\"" left + plotW / 2 "\" y=\"" height - 16 "\" text-anchor=\"middle\">" \
      "epochs</text>"
    print "<text transform=\"translate(18," top + plotH / 2 ") rotate(-90)\"" \
      " text-anchor=\"middle\">training error rate</text>"
    ty = top + plotH - target * plotH
    print "<line x1=\"" left "\" x2=\"" left + plotW "\" y1=\"" ty "\" y2=\"" ty "\"" \
      " stroke=\"#666\" stroke-dasharray=\"2,3\"/>"
    style[1] = "stroke=\"#c0392b\""; style[2] = "stroke=\"#2c3e90\" stroke-dasharray=\"7,4\""
    for (r = 1; r <= 2; r++) {
      points = ""
      for (e = 1; e <= n[r]; e++)
        points = points sprintf("%.1f,%.1f ", left + e / xMax * plotW,
          top + plotH - error[r, e] * plotH)
      print "<polyline fill=\"none\" stroke-width=\"2\" " style[r] " points=\"" points "\"/>"
    }
    lx = left + plotW - 190; ly = top + 12                # legend, top right, boxed
    print "<rect x=\"" lx - 8 "\" y=\"" ly - 8 "\" width=\"190\" height=\"64\"" \
      " fill=\"white\" stroke=\"#999\"/>"
    label[1] = "ReLU (lr " relu_lr ")"; label[2] = "tanh (lr " tanh_lr ")"
    for (r = 1; r <= 2; r++) {
      y = ly + (r - 1) * 18 + 6
      print "<line x1=\"" lx "\" x2=\"" lx + 30 "\" y1=\"" y "\" y2=\"" y "\"" \
        " stroke-width=\"2\" " style[r] "/>"
      print "<text x=\"" lx + 38 "\" y=\"" y + 4 "\">" label[r] "</text>"
    }
    y = ly + 42
    print "<line x1=\"" lx "\" x2=\"" lx + 30 "\" y1=\"" y "\" y2=\"" y "\"" \
      " stroke=\"#666\" stroke-dasharray=\"2,3\"/>"
    print "<text x=\"" lx + 38 "\" y=\"" y + 4 "\">" target * 100 "% training error</text>"
    print "</svg>"
  }' "$1" "$2"
