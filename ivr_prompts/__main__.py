from ivr_prompts.generate import main

raise SystemExit(main())
