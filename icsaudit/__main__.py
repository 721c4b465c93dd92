from icsaudit.cli import main

main()
