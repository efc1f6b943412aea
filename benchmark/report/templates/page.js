function value(cell){const m=cell.textContent.replace(/\u2212/g,'-').match(/[-+]?\d+(\.\d+)?/);
  return m?parseFloat(m[0]):null}
function sortBy(table,column,dir){const body=table.tBodies[0];const rows=[...body.rows];
  rows.sort((a,b)=>{const x=value(a.cells[column]),y=value(b.cells[column]);
    if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
    return dir==='asc'?x-y:y-x});
  rows.forEach(r=>body.appendChild(r));table.dataset.column=column;table.dataset.dir=dir}
document.querySelectorAll('table.board').forEach(table=>{
  table.querySelectorAll('thead th').forEach((th,column)=>th.addEventListener('click',()=>{
    const dir=(table.dataset.column==column&&table.dataset.dir==='desc')?'asc':'desc';
    sortBy(table,column,dir)}))});
function filter(){const chosen={};
  document.querySelectorAll('.filters select').forEach(s=>chosen[s.name]=s.value);
  document.querySelectorAll('section.board').forEach(section=>{
    section.hidden=Object.entries(chosen).some(([k,v])=>v!=='all'&&section.dataset[k]!==v)})}
document.querySelectorAll('.filters select').forEach(s=>s.addEventListener('change',filter));
const wanted=location.hash.match(/sort=(\d+):(\d+):(asc|desc)/);
if(wanted){const table=document.querySelectorAll('table.board')[+wanted[1]];
  if(table)sortBy(table,+wanted[2],wanted[3])}
window.addEventListener('load',()=>{document.body.dataset.imagesShown=
  [...document.images].filter(i=>i.complete&&i.naturalWidth>0).length})
