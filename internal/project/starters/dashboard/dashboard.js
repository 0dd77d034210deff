// Renders cards, an SVG bar chart and a table from DATA, with no libraries.
document.getElementById("cards").innerHTML = DATA.cards
  .map((c) => `<div class="card"><div>${c.label}</div><div class="value">${c.value}</div></div>`)
  .join("");

const svg = document.getElementById("chart");
const max = Math.max(...DATA.week.map(([, v]) => v));
const barW = 600 / DATA.week.length;
svg.innerHTML = DATA.week
  .map(([day, v], i) => {
    const h = (v / max) * 180;
    return `<rect x="${i * barW + 10}" y="${190 - h}" width="${barW - 20}" height="${h}" rx="4" fill="#5b6cff"><title>${day}: ${v}</title></rect>` +
      `<text x="${i * barW + barW / 2}" y="212" text-anchor="middle" font-size="12">${day}</text>`;
  })
  .join("");

document.querySelector("#table tbody").innerHTML = DATA.pages
  .map(([page, views]) => `<tr><td>${page}</td><td>${views.toLocaleString()}</td></tr>`)
  .join("");
