// A minimal game loop: a square that follows the arrow keys or a tap.
const canvas = document.getElementById("game");
const ctx = canvas.getContext("2d");
const player = { x: 320, y: 200, size: 24, speed: 4 };
const keys = new Set();
let target = null;

addEventListener("keydown", (e) => keys.add(e.key));
addEventListener("keyup", (e) => keys.delete(e.key));
canvas.addEventListener("pointerdown", (e) => {
  const r = canvas.getBoundingClientRect();
  target = { x: (e.clientX - r.left) * (canvas.width / r.width), y: (e.clientY - r.top) * (canvas.height / r.height) };
});

function update() {
  if (keys.has("ArrowLeft")) player.x -= player.speed;
  if (keys.has("ArrowRight")) player.x += player.speed;
  if (keys.has("ArrowUp")) player.y -= player.speed;
  if (keys.has("ArrowDown")) player.y += player.speed;
  if (target) {
    player.x += Math.sign(target.x - player.x) * Math.min(player.speed, Math.abs(target.x - player.x));
    player.y += Math.sign(target.y - player.y) * Math.min(player.speed, Math.abs(target.y - player.y));
  }
  player.x = Math.max(0, Math.min(canvas.width - player.size, player.x));
  player.y = Math.max(0, Math.min(canvas.height - player.size, player.y));
}

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#7c5cff";
  ctx.fillRect(player.x, player.y, player.size, player.size);
}

function frame() {
  update();
  draw();
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
