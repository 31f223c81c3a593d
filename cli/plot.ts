/**
 * A dependency-free SVG of the training curves: loss (left axis) and train/test accuracy
 * (right axis) per epoch.
 * @module
 */

/** One epoch's figures. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  trainAcc: number;
  testAcc: number;
}

/** Renders the history as an SVG document. */
export function renderPlot(history: EpochRecord[]): string {
  const width = 640, height = 360, left = 56, right = 56, top = 24, bottom = 40;
  const plotW = width - left - right, plotH = height - top - bottom;
  const epochs = history.map((h) => h.epoch);
  const minE = Math.min(...epochs, 1), maxE = Math.max(...epochs, minE + 1);
  const maxLoss = Math.max(...history.map((h) => h.loss), 1e-9);
  const x = (e: number) => left + ((e - minE) / (maxE - minE)) * plotW;
  const yLoss = (l: number) => top + plotH - (l / maxLoss) * plotH;
  const yAcc = (a: number) => top + plotH - a * plotH;
  const path = (pts: [number, number][]) =>
    pts.map(([px, py], i) => `${i ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
  const series = [
    { name: "loss", color: "#d62728", d: path(history.map((h) => [x(h.epoch), yLoss(h.loss)])) },
    {
      name: "train accuracy",
      color: "#1f77b4",
      d: path(history.map((h) => [x(h.epoch), yAcc(h.trainAcc)])),
    },
    {
      name: "test accuracy",
      color: "#2ca02c",
      d: path(history.map((h) => [x(h.epoch), yAcc(h.testAcc)])),
    },
  ];
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
  <rect width="100%" height="100%" fill="white"/>
  <g stroke="#ddd">${
    ticks.map((t) => `<line x1="${left}" x2="${left + plotW}" y1="${yAcc(t)}" y2="${yAcc(t)}"/>`)
      .join("")
  }</g>
  <g fill="#555">${
    ticks.map((t) =>
      `<text x="${left + plotW + 6}" y="${yAcc(t) + 4}">${(100 * t).toFixed(0)}%</text>`
    ).join("")
  }
  ${
    ticks.map((t) =>
      `<text x="${left - 6}" y="${yLoss(t * maxLoss) + 4}" text-anchor="end">${
        (t * maxLoss).toFixed(2)
      }</text>`
    ).join("")
  }
  ${
    epochs.map((e) => `<text x="${x(e)}" y="${top + plotH + 16}" text-anchor="middle">${e}</text>`)
      .join("")
  }
  <text x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle">epoch</text></g>
  ${
    series.map((s) => `<path d="${s.d}" fill="none" stroke="${s.color}" stroke-width="2"/>`).join(
      "\n  ",
    )
  }
  ${
    series.map((s, i) =>
      `<text x="${left + 8}" y="${top + 14 + 14 * i}" fill="${s.color}">${s.name}</text>`
    ).join("\n  ")
  }
</svg>
`;
}
