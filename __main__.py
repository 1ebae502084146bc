from tagsight.engine.cli import main

raise SystemExit(main())
