# bash completion for ec2-netcfg: commands, options, backends, interface names.
_ec2_netcfg() {
  local cur prev words cword
  _init_completion 2>/dev/null || {
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  }
  local commands="apply remove show diff check dump-metadata"
  local opts="--backend --config --root --imds-endpoint --metadata-file --dry-run --json --verbose --quiet --version --help -v -q"
  case $prev in
    --backend) COMPREPLY=($(compgen -W "networkd netplan netlink" -- "$cur")); return ;;
    --config | --metadata-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --root) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --imds-endpoint) COMPREPLY=($(compgen -W "http://169.254.169.254 http://[fd00:ec2::254]" -- "$cur")); return ;;
  esac
  local i command=
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      --backend | --config | --root | --imds-endpoint | --metadata-file) ((i++)) ;;
      -*) ;;
      *) command=${words[i]}; break ;;
    esac
  done
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ -z $command ]]; then
    COMPREPLY=($(compgen -W "$commands" -- "$cur"))
  elif [[ $command != dump-metadata ]]; then
    COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))
  fi
}
complete -F _ec2_netcfg ec2-netcfg
