// Sample data; the agent replaces it with what the user asks for.
const DATA = {
  cards: [
    { label: "Visitors", value: "12,480" },
    { label: "Sign-ups", value: "842" },
    { label: "Revenue", value: "$9,310" },
  ],
  week: [["Mon", 1200], ["Tue", 1850], ["Wed", 1640], ["Thu", 2100], ["Fri", 1980], ["Sat", 1450], ["Sun", 1260]],
  pages: [["/", 5400], ["/pricing", 2100], ["/blog", 1750], ["/docs", 1320]],
};
