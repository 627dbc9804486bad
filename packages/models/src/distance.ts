/**
 * Edit distance between two names (optimal string alignment: insert, delete, substitute, and a
 * swap of neighbours each count one, so "--prot" is one edit from "--port"). The one helper
 * behind every "did you mean" hint (config flags and keys, strict Connect JSON fields, package
 * fields). It allocates one row per call; callers bound the input (names are short).
 */
export const editDistance = (a: string, b: string): number => {
  let before = Array.from({ length: b.length + 1 }, () => 0)
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1)
      cur[j] = best
    }
    before = prev
    prev = cur
  }
  return prev[b.length]!
}
