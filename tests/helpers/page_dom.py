"""Reading a rendered leaderboard page back (as built, or as a browser's DOM dump) with the
standard library's HTML parser."""

from html.parser import HTMLParser


class _Boards(HTMLParser):
    """The body rows of every `table.board`, each row its cells' texts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.boards: list[list[list[str]]] = []
        self._in_board = self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and "board" in (dict(attrs).get("class") or "").split():
            self._in_board = True
            self.boards.append([])
        elif self._in_board and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.boards[-1].append([])
        elif self._in_body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.boards[-1][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table" and self._in_board:
            self._in_board = self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def board_column(dom: str, table: int, column: int) -> list[str]:
    """The texts of one column of the page's `table`-th board, in the order shown."""
    parser = _Boards()
    parser.feed(dom)
    return [row[column] for row in parser.boards[table]]
