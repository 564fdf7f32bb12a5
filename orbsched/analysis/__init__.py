"""What is made from results folders: figures, the HTML report, economics, comparisons."""
