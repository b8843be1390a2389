package console

// style is the console's whole stylesheet: plain, readable, no framework.
const style = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2733;background:#f6f8fa}
header{display:flex;gap:2em;align-items:center;background:#0b3d5c;color:#fff;padding:.6em 1.5em}
header a{color:#fff;text-decoration:none;margin-right:1.2em}.brand{font-weight:700;font-size:1.2em}
main{padding:1em 1.5em;max-width:1200px}
table{border-collapse:collapse;background:#fff;width:100%;margin:.5em 0 1.5em}
th,td{border-bottom:1px solid #e1e4e8;padding:.35em .6em;text-align:left}th{background:#eef2f6}
code{background:#eef2f6;padding:0 .3em;border-radius:3px}
.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:.7em 1em;min-width:7em}
.card b{display:block;font-size:1.5em}.card span{color:#57606a}
.good{color:#1a7f37}.bad{color:#cf222e}tr.bad td{background:#ffebe9}tr.warn td{background:#fff8c5}
input{padding:.3em;width:20em}.pages a{margin-left:1em}
form.create input{width:auto}label{margin-right:1em}button.danger{background:#cf222e;color:#fff;border:0;padding:.4em .8em;border-radius:4px}
form.actions button{margin-right:.3em}textarea{font-family:monospace}
svg.line{background:#fff;border:1px solid #e1e4e8}svg.line polyline{stroke:#2f81f7;stroke-width:2}
svg.multi polyline.s0,.legend .s0{stroke:#2f81f7;color:#2f81f7}svg.multi polyline.s1,.legend .s1{stroke:#d1242f;color:#d1242f}
svg.multi polyline.s2,.legend .s2{stroke:#1a7f37;color:#1a7f37}svg.multi polyline.s3,.legend .s3{stroke:#9a6700;color:#9a6700}
svg.multi polyline.s4,.legend .s4{stroke:#8250df;color:#8250df}svg.multi polyline.s5,.legend .s5{stroke:#57606a;color:#57606a}
.charts{display:flex;flex-wrap:wrap;gap:16px}.charts h3{font-size:14px;margin:8px 0 4px}.legend{margin:2px 0;font-size:12px}svg.line text{font-size:11px;fill:#57606a}.muted{color:#57606a}
pre.json{margin:0;font-size:12px;max-height:20em;overflow:auto}
.chart{background:#fff;border:1px solid #e1e4e8;margin:.5em 0 1.5em}.chart rect{fill:#2f81f7}.chart text{font-size:12px;fill:#1d2733}
`
